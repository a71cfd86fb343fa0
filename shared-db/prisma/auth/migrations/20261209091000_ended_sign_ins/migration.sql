-- Every refresh token issued removes the tokens of a few ended sign-ins, those whose newest token expired
-- more than a day ago (sessions.ts). This index holds each sign-in's newest token (the one no other
-- replaced) by its expiry, so that they are found without reading every token. Partial, so Prisma's
-- schema, which cannot express it, leaves it alone (as users_admins_idx).
CREATE INDEX "sessions_newest_expires_at_idx" ON "auth"."sessions"("expires_at") WHERE "replaced_by_id" IS NULL;
