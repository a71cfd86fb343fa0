-- An erasure that keeps failing is parked for an operator after ERASURE_MAX_ATTEMPTS attempts, instead of
-- being tried forever (background work, ADR 0007); last_error keeps why.
ALTER TABLE "admin"."erasure_requests" ADD COLUMN     "parked_at" TIMESTAMPTZ(3);
