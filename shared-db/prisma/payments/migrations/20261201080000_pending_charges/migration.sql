-- A payment is recorded PENDING before the processor is asked to charge it, then settled: a crash in
-- between leaves a row the recovery worker finishes with the same processor idempotency key.

-- DropIndex
DROP INDEX "payments"."payments_status_idx";

-- AlterTable
ALTER TABLE "payments"."payments" ADD COLUMN     "charge_attempts" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "charge_key" TEXT,
ADD COLUMN     "next_charge_at" TIMESTAMPTZ(3),
ADD COLUMN     "pending_token" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "payments_charge_key_key" ON "payments"."payments"("charge_key");

-- CreateIndex
CREATE INDEX "payments_status_next_charge_at_idx" ON "payments"."payments"("status", "next_charge_at");

