-- The ids of accepted internal calls' tokens, until they expire: a replayed call is refused by every
-- replica of the service (service-kit's internal API).

-- CreateTable
CREATE TABLE "profile"."internal_call_tokens" (
    "jti" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "internal_call_tokens_pkey" PRIMARY KEY ("jti")
);

-- CreateIndex
CREATE INDEX "internal_call_tokens_expires_at_idx" ON "profile"."internal_call_tokens"("expires_at");
