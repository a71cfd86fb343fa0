-- Written by hand: triggers, which Prisma does not model (so its schema has nothing to match).
--
-- Subscriptions (auditEntryAdded) hear of committed changes only. An audit entry recorded (by admin itself,
-- or arriving from auth and payments through their outboxes), and a change to admin's view of an account,
-- each NOTIFY a channel that every admin process LISTENs on; PostgreSQL sends a notification only when its
-- transaction commits. Payloads carry ids and the time alone (the limit is 8000 bytes): subscribers read
-- the current row.

-- auditEntryAdded's events: the entry, and when it was recorded (as near to its commit as the database can
-- tell). A copy delivered again inserts nothing (ON CONFLICT DO NOTHING), and so announces nothing.
CREATE FUNCTION "admin"."notify_audit_entry_added"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('admin_audit_entry_added', json_build_object('id', NEW.id, 'committedAt', clock_timestamp())::text);
  RETURN NULL;
END;
$$;

CREATE TRIGGER "audit_entries_notify" AFTER INSERT ON "admin"."audit_entries"
  FOR EACH ROW EXECUTE FUNCTION "admin"."notify_audit_entry_added"();

-- A user whose account changed here (auth's account.changed and session.revoked events): every process
-- re-checks that user's live subscriptions at once rather than at their next event.
CREATE FUNCTION "admin"."notify_account_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('admin_account_changed', NEW.user_id::text);
  RETURN NULL;
END;
$$;

CREATE TRIGGER "account_states_notify" AFTER INSERT OR UPDATE ON "admin"."account_states"
  FOR EACH ROW EXECUTE FUNCTION "admin"."notify_account_changed"();

CREATE TRIGGER "revoked_sessions_notify" AFTER INSERT OR UPDATE ON "admin"."revoked_sessions"
  FOR EACH ROW EXECUTE FUNCTION "admin"."notify_account_changed"();
