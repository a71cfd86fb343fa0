-- Recovery of a PENDING payment gives up after PAYMENTS_RECOVERY_MAX_ATTEMPTS failures and parks it for an
-- operator, keeping the last failure (background work, ADR 0007).
ALTER TABLE "payments"."payments" ADD COLUMN     "charge_error" TEXT,
ADD COLUMN     "charge_parked_at" TIMESTAMPTZ(3);
