// The checks on a payment's input: its currency, its amount (bounds, the currency's decimals) and its free text.
import { badUserInput, excerpt } from '@fedstack/runtime';
import { Decimal } from '@fedstack/shared-db';
import { formatAmount, minorUnits, parseDecimal } from '@fedstack/service-kit';

/** The largest amount one payment may carry, in the currency's major unit. */
export const MAX_AMOUNT = new Decimal('1000000');

const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

/** An upper-case ISO 4217 code the runtime knows, or BAD_USER_INPUT on `field`. */
export function parseCurrency(value: string, field: string): string {
  const code = value.trim().toUpperCase();
  if (!/^[A-Z]{3}$/.test(code) || !CURRENCIES.has(code))
    throw badUserInput(field, `must be an ISO 4217 currency code such as "EUR" (got "${excerpt(value, 10)}")`);
  return code;
}

/**
 * An amount for `currency`: greater than zero, at most MAX_AMOUNT, and with no more decimals than the
 * currency has. Exact decimal arithmetic throughout; the result is the canonical string ("12.5" for "12.50").
 */
export function parseAmount(value: string, currency: string, field: string, max: Decimal = MAX_AMOUNT): Decimal {
  const amount = parseDecimal(value, field);
  if (amount.lte(0)) throw badUserInput(field, `must be greater than zero (got "${excerpt(value, 40)}")`);
  const decimals = minorUnits(currency);
  if (amount.decimalPlaces() > decimals) {
    throw badUserInput(field, `${currency} amounts have at most ${decimals} decimal place${decimals === 1 ? '' : 's'} (got "${excerpt(value, 40)}")`);
  }
  if (amount.gt(max)) throw badUserInput(field, `must be at most ${formatAmount(max, currency)} (got "${excerpt(value, 40)}")`);
  return amount;
}

/** Optional free text with a length bound; null and blank become null. */
export function optionalText(value: string | null | undefined, field: string, max: number): string | null {
  if (value === null || value === undefined) return null;
  const trimmed = value.trim();
  const length = [...trimmed].length;
  if (length > max) throw badUserInput(field, `must be at most ${max} characters (got ${length})`);
  return trimmed === '' ? null : trimmed;
}
