-- AlterTable
ALTER TABLE "auth"."users" ADD COLUMN     "state_version" BIGINT NOT NULL DEFAULT 0;

-- CreateTable
CREATE TABLE "auth"."outbox" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "event_id" UUID NOT NULL,
    "destination" TEXT NOT NULL,
    "topic" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_error" TEXT,

    CONSTRAINT "outbox_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "auth"."erasures" (
    "user_id" UUID NOT NULL,
    "erased_at" TIMESTAMPTZ(3) NOT NULL,
    "changes" JSONB NOT NULL,

    CONSTRAINT "erasures_pkey" PRIMARY KEY ("user_id")
);

-- CreateIndex
CREATE INDEX "outbox_next_attempt_at_idx" ON "auth"."outbox"("next_attempt_at");


-- Written by hand (Prisma does not model triggers, checks or data).

-- The relay listens on "auth_outbox": a committed event wakes it at once (the notification is sent at commit).
CREATE FUNCTION "auth"."notify_outbox"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('auth_outbox', '');
  RETURN NULL;
END;
$$;

CREATE TRIGGER "outbox_notify" AFTER INSERT ON "auth"."outbox" FOR EACH STATEMENT EXECUTE FUNCTION "auth"."notify_outbox"();

-- Accounts that differ from a new sign-up's (admins, suspended, erased) are published once to the services
-- that keep a view of account states, so that those views start right on a database upgraded from the
-- single-history layout. So are the sign-ins ended in the last day (the longest access-token lifetime).
UPDATE "auth"."users" SET "state_version" = 1 WHERE "role" <> 'USER' OR "status" <> 'ACTIVE' OR "erased_at" IS NOT NULL;

INSERT INTO "auth"."outbox" ("event_id", "destination", "topic", "payload")
SELECT u.event_id, d.destination, 'account.changed',
       jsonb_build_object('userId', u.id, 'version', u.state_version, 'role', u.role, 'status', u.status,
                          'erasedAt', to_char(u.erased_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
FROM (SELECT *, gen_random_uuid() AS event_id FROM "auth"."users" WHERE "state_version" > 0) u
CROSS JOIN (VALUES ('profile'), ('payments'), ('admin')) AS d(destination);

INSERT INTO "auth"."outbox" ("event_id", "destination", "topic", "payload")
SELECT f.event_id, d.destination, 'session.revoked',
       jsonb_build_object('userId', f.user_id, 'familyIds', jsonb_build_array(f.family_id),
                          'revokedAt', to_char(f.revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                          'expiresAt', to_char((f.revoked_at + interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
FROM (SELECT family_id, min(user_id::text)::uuid AS user_id, max(revoked_at) AS revoked_at, gen_random_uuid() AS event_id
      FROM "auth"."sessions" GROUP BY family_id
      HAVING bool_and(revoked_at IS NOT NULL) AND max(revoked_at) > now() - interval '1 day') f
CROSS JOIN (VALUES ('profile'), ('payments'), ('admin')) AS d(destination);
