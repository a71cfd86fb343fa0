-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "admin";

-- CreateTable
CREATE TABLE "admin"."audit_entries" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "actor_id" UUID,
    "action" TEXT NOT NULL,
    "target_type" TEXT NOT NULL,
    "target_id" TEXT,
    "payload" JSONB NOT NULL DEFAULT '{}',
    "request_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_entries_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "audit_entries_created_at_id_idx" ON "admin"."audit_entries"("created_at" DESC, "id");

-- CreateIndex
CREATE INDEX "audit_entries_actor_id_idx" ON "admin"."audit_entries"("actor_id");

-- CreateIndex
CREATE INDEX "audit_entries_target_id_idx" ON "admin"."audit_entries"("target_id");

-- CreateIndex
CREATE INDEX "audit_entries_action_idx" ON "admin"."audit_entries"("action");


-- Rules PostgreSQL enforces itself, whatever a service's code does (written by hand: Prisma does not model them).

-- The audit trail is append-only for everybody, the owner included; grants already keep service roles
-- from UPDATE and DELETE, and this keeps a mistaken migration or console session from doing it either.
CREATE FUNCTION "admin"."refuse_audit_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'admin.audit_entries is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER "audit_entries_append_only"
  BEFORE UPDATE OR DELETE ON "admin"."audit_entries"
  FOR EACH ROW EXECUTE FUNCTION "admin"."refuse_audit_change"();

CREATE TRIGGER "audit_entries_no_truncate"
  BEFORE TRUNCATE ON "admin"."audit_entries"
  FOR EACH STATEMENT EXECUTE FUNCTION "admin"."refuse_audit_change"();
