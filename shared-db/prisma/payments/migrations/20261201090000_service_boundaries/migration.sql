-- CreateTable
CREATE TABLE "payments"."outbox" (
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
CREATE TABLE "payments"."erasures" (
    "user_id" UUID NOT NULL,
    "erased_at" TIMESTAMPTZ(3) NOT NULL,
    "changes" JSONB NOT NULL,

    CONSTRAINT "erasures_pkey" PRIMARY KEY ("user_id")
);

-- CreateTable
CREATE TABLE "payments"."account_states" (
    "user_id" UUID NOT NULL,
    "role" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "erased_at" TIMESTAMPTZ(3),
    "version" BIGINT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "account_states_pkey" PRIMARY KEY ("user_id")
);

-- CreateTable
CREATE TABLE "payments"."revoked_sessions" (
    "family_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "revoked_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "revoked_sessions_pkey" PRIMARY KEY ("family_id")
);

-- CreateIndex
CREATE INDEX "outbox_next_attempt_at_idx" ON "payments"."outbox"("next_attempt_at");

-- CreateIndex
CREATE INDEX "revoked_sessions_expires_at_idx" ON "payments"."revoked_sessions"("expires_at");


-- Written by hand (Prisma does not model triggers, checks or data).

-- The relay listens on "payments_outbox": a committed event wakes it at once (the notification is sent at commit).
CREATE FUNCTION "payments"."notify_outbox"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('payments_outbox', '');
  RETURN NULL;
END;
$$;

CREATE TRIGGER "outbox_notify" AFTER INSERT ON "payments"."outbox" FOR EACH STATEMENT EXECUTE FUNCTION "payments"."notify_outbox"();

ALTER TABLE "payments"."account_states"
  ADD CONSTRAINT "account_states_role" CHECK ("role" IN ('USER', 'ADMIN')),
  ADD CONSTRAINT "account_states_status" CHECK ("status" IN ('ACTIVE', 'SUSPENDED'));
