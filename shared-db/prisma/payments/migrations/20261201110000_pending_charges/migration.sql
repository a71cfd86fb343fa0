-- A payment is recorded PENDING before the processor is asked to charge it, then settled: a crash in
-- between leaves a row the recovery worker finishes under the same processor idempotency key (the payment's id).

-- DropIndex
DROP INDEX "payments"."payments_status_idx";

-- AlterTable
ALTER TABLE "payments"."payments" ADD COLUMN     "charge_attempts" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "next_charge_at" TIMESTAMPTZ(3),
ADD COLUMN     "pending_token" TEXT;

-- CreateIndex
CREATE INDEX "payments_status_next_charge_at_idx" ON "payments"."payments"("status", "next_charge_at");

