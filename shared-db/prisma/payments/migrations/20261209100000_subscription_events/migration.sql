-- Written by hand: triggers, which Prisma does not model (so its schema has nothing to match).
--
-- Subscriptions (paymentUpdated) hear of committed changes only. A change to a payment that a client can
-- see, and a change to payments' view of an account, each NOTIFY a channel that every payments process
-- LISTENs on; PostgreSQL sends a notification only when its transaction commits, so a rolled-back change
-- announces nothing. Payloads carry ids and the time alone (the limit is 8000 bytes): subscribers read the
-- current row.

-- paymentUpdated's events: the payment, its owner, and when the change was made (as near to its commit as
-- the database can tell).
CREATE FUNCTION "payments"."notify_payment_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- The recovery worker's bookkeeping (attempts, the next try, parking) changes nothing a client sees.
  IF TG_OP = 'UPDATE'
     AND (OLD.user_id, OLD.amount, OLD.currency, OLD.status, OLD.description, OLD.refunded_amount, OLD.anonymised_at)
         IS NOT DISTINCT FROM (NEW.user_id, NEW.amount, NEW.currency, NEW.status, NEW.description, NEW.refunded_amount, NEW.anonymised_at) THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('payments_payment_changed', json_build_object('id', NEW.id, 'userId', NEW.user_id, 'committedAt', clock_timestamp())::text);
  RETURN NULL;
END;
$$;

CREATE TRIGGER "payments_notify_changed" AFTER INSERT OR UPDATE ON "payments"."payments"
  FOR EACH ROW EXECUTE FUNCTION "payments"."notify_payment_changed"();

-- A user whose account changed here (auth's account.changed and session.revoked events, an erasure): every
-- process re-checks that user's live subscriptions at once rather than at their next event.
CREATE FUNCTION "payments"."notify_account_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('payments_account_changed', NEW.user_id::text);
  RETURN NULL;
END;
$$;

CREATE TRIGGER "account_states_notify" AFTER INSERT OR UPDATE ON "payments"."account_states"
  FOR EACH ROW EXECUTE FUNCTION "payments"."notify_account_changed"();

CREATE TRIGGER "revoked_sessions_notify" AFTER INSERT OR UPDATE ON "payments"."revoked_sessions"
  FOR EACH ROW EXECUTE FUNCTION "payments"."notify_account_changed"();
