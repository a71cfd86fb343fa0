-- When admin recorded each entry, in the order the entries commit: the order the audit log is listed and
-- paged in. An entry's created_at is its sender's time, taken before the sender's own commit and often
-- long before the entry reaches admin through an outbox; listed by it, an entry arriving late landed inside
-- a page a client had already read, and paging on never showed it. Entries already recorded keep their
-- created_at as the time they were recorded.
ALTER TABLE "admin"."audit_entries" ADD COLUMN "recorded_at" TIMESTAMPTZ(3);
-- The trail refuses every UPDATE (append-only, the owner's too): set aside for this one, in this transaction.
ALTER TABLE "admin"."audit_entries" DISABLE TRIGGER "audit_entries_append_only";
UPDATE "admin"."audit_entries" SET "recorded_at" = "created_at";
ALTER TABLE "admin"."audit_entries" ENABLE TRIGGER "audit_entries_append_only";
ALTER TABLE "admin"."audit_entries" ALTER COLUMN "recorded_at" SET NOT NULL, ALTER COLUMN "recorded_at" SET DEFAULT CURRENT_TIMESTAMP;

CREATE INDEX "audit_entries_recorded_at_id_idx" ON "admin"."audit_entries"("recorded_at" DESC, "id");
