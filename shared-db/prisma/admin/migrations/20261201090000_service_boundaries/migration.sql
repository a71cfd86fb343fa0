-- AlterTable
ALTER TABLE "admin"."audit_entries" ADD COLUMN     "source" TEXT NOT NULL DEFAULT 'admin';

-- CreateTable
CREATE TABLE "admin"."erasure_requests" (
    "user_id" UUID NOT NULL,
    "requested_by" UUID NOT NULL,
    "request_id" TEXT,
    "requested_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lease_until" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "completed_at" TIMESTAMPTZ(3),
    "changes" JSONB,

    CONSTRAINT "erasure_requests_pkey" PRIMARY KEY ("user_id")
);

-- CreateTable
CREATE TABLE "admin"."account_states" (
    "user_id" UUID NOT NULL,
    "role" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "erased_at" TIMESTAMPTZ(3),
    "version" BIGINT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "account_states_pkey" PRIMARY KEY ("user_id")
);

-- CreateTable
CREATE TABLE "admin"."revoked_sessions" (
    "family_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "revoked_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "revoked_sessions_pkey" PRIMARY KEY ("family_id")
);

-- CreateIndex
CREATE INDEX "erasure_requests_completed_at_lease_until_idx" ON "admin"."erasure_requests"("completed_at", "lease_until");

-- CreateIndex
CREATE INDEX "revoked_sessions_expires_at_idx" ON "admin"."revoked_sessions"("expires_at");


-- Written by hand (Prisma does not model triggers, checks or data).

ALTER TABLE "admin"."account_states"
  ADD CONSTRAINT "account_states_role" CHECK ("role" IN ('USER', 'ADMIN')),
  ADD CONSTRAINT "account_states_status" CHECK ("status" IN ('ACTIVE', 'SUSPENDED'));

-- Refund entries were written by payments before this migration; everything else by admin. The trail
-- refuses every UPDATE; filling in the new column is the one exception, with the trigger off only inside
-- this migration's transaction.
ALTER TABLE "admin"."audit_entries" DISABLE TRIGGER "audit_entries_append_only";
UPDATE "admin"."audit_entries" SET "source" = 'payments' WHERE "action" LIKE 'payment.%';
ALTER TABLE "admin"."audit_entries" ENABLE TRIGGER "audit_entries_append_only";

-- Erasures done before this migration are complete requests, so that repeating one answers "already erased".
INSERT INTO "admin"."erasure_requests" ("user_id", "requested_by", "request_id", "requested_at", "lease_until", "completed_at", "changes")
SELECT DISTINCT ON (target_id) target_id::uuid, actor_id, request_id, created_at, created_at, created_at, payload->'changes'
FROM "admin"."audit_entries" WHERE "action" = 'user.erase' AND "actor_id" IS NOT NULL
ORDER BY target_id, created_at;
