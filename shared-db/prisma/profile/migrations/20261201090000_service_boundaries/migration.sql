-- CreateTable
CREATE TABLE "profile"."erasures" (
    "user_id" UUID NOT NULL,
    "erased_at" TIMESTAMPTZ(3) NOT NULL,
    "changes" JSONB NOT NULL,

    CONSTRAINT "erasures_pkey" PRIMARY KEY ("user_id")
);

-- CreateTable
CREATE TABLE "profile"."account_states" (
    "user_id" UUID NOT NULL,
    "role" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "erased_at" TIMESTAMPTZ(3),
    "version" BIGINT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "account_states_pkey" PRIMARY KEY ("user_id")
);

-- CreateTable
CREATE TABLE "profile"."revoked_sessions" (
    "family_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "revoked_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "revoked_sessions_pkey" PRIMARY KEY ("family_id")
);

-- CreateIndex
CREATE INDEX "revoked_sessions_expires_at_idx" ON "profile"."revoked_sessions"("expires_at");


-- Written by hand (Prisma does not model triggers, checks or data).

ALTER TABLE "profile"."account_states"
  ADD CONSTRAINT "account_states_role" CHECK ("role" IN ('USER', 'ADMIN')),
  ADD CONSTRAINT "account_states_status" CHECK ("status" IN ('ACTIVE', 'SUSPENDED'));
