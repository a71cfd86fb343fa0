-- What admins write about a user (a suspension's reason) leaves the append-only audit payload for a row
-- of its own that erasure deletes. Reasons recorded before move there; those of users already erased go.

-- CreateTable
CREATE TABLE "admin"."audit_details" (
    "entry_id" UUID NOT NULL,
    "subject_id" UUID NOT NULL,
    "details" JSONB NOT NULL,

    CONSTRAINT "audit_details_pkey" PRIMARY KEY ("entry_id")
);

-- CreateIndex
CREATE INDEX "audit_details_subject_id_idx" ON "admin"."audit_details"("subject_id");

-- AddForeignKey
ALTER TABLE "admin"."audit_details" ADD CONSTRAINT "audit_details_entry_id_fkey" FOREIGN KEY ("entry_id") REFERENCES "admin"."audit_entries"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

INSERT INTO "admin"."audit_details" ("entry_id", "subject_id", "details")
SELECT e."id", e."target_id"::uuid, jsonb_build_object('reason', e."payload"->'reason')
FROM "admin"."audit_entries" e
WHERE e."target_type" = 'User' AND e."payload" ? 'reason'
  AND NOT EXISTS (SELECT 1 FROM "admin"."erasure_requests" r WHERE r."user_id"::text = e."target_id" AND r."completed_at" IS NOT NULL);

ALTER TABLE "admin"."audit_entries" DISABLE TRIGGER "audit_entries_append_only";
UPDATE "admin"."audit_entries" SET "payload" = "payload" - 'reason' WHERE "payload" ? 'reason';
ALTER TABLE "admin"."audit_entries" ENABLE TRIGGER "audit_entries_append_only";
