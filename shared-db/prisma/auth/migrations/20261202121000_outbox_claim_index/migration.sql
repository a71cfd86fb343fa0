-- Relays claim each destination's due events in index order (LIMIT … FOR UPDATE SKIP LOCKED), which stays
-- as fast with thousands waiting as with none; the old claim sorted every due row on each claim.
DROP INDEX "auth"."outbox_next_attempt_at_idx";

CREATE INDEX "outbox_destination_next_attempt_at_idx" ON "auth"."outbox"("destination", "next_attempt_at");
