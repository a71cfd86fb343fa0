-- Every refresh token issued removes a few that expired (sessions.ts), oldest first: without this index,
-- finding them would read every sign-in's tokens.
CREATE INDEX "sessions_expires_at_idx" ON "auth"."sessions"("expires_at");
