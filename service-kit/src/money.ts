// Exact money: the one grammar of decimal amounts this API accepts, and each currency's decimals.
import { code as isoCurrency } from 'currency-codes';
import { badUserInput } from '@fedstack/runtime';
import { Decimal } from '@fedstack/shared-db';

/** A plain decimal: an optional minus, no leading zeros, no exponent, no sign of its own on the fraction. */
const PLAIN_DECIMAL = /^-?(0|[1-9]\d*)(\.\d+)?$/;
/** The longest decimal text accepted, so that no client makes the server parse a huge number. */
export const MAX_DECIMAL_LENGTH = 40;

/** Why `text` is not a decimal this API accepts, or undefined when it is one. */
export function decimalProblem(text: string): string | undefined {
  if (text.length <= MAX_DECIMAL_LENGTH && PLAIN_DECIMAL.test(text)) return undefined;
  return `must be a plain decimal number such as "12.50", at most ${MAX_DECIMAL_LENGTH} characters (got "${text.slice(0, MAX_DECIMAL_LENGTH)}")`;
}

/**
 * The exact decimal `text` says, by the same grammar as the Decimal scalar (`decimalProblem`); BAD_USER_INPUT
 * on `field` otherwise. Amounts reach the domain through the scalar, which has checked them already; this is
 * the one parser for anything else that carries a decimal.
 */
export function parseDecimal(text: string, field: string): Decimal {
  const problem = decimalProblem(text);
  if (problem) throw badUserInput(field, problem);
  return new Decimal(text);
}

const minorUnitsByCurrency = new Map<string, number>();

/**
 * How many decimals a currency has: its ISO 4217 minor units, from ISO's list as the currency-codes
 * package keeps it, or ICU's figure where that is more. ICU's (Intl.NumberFormat) alone are display
 * rounding: they gave HUF, COP, IDR, PKR and a dozen more no decimals and IQD two of its three, so valid
 * amounts were refused. ISO gives none to units it calls "N.A." (the package writes 0), such as the SDR
 * (XDR) and the Sucre (XSU), which ICU writes with two, and to codes its current list lacks. More
 * decimals never lose an amount, fewer would round stored ones. Remembered per currency.
 */
export function minorUnits(currency: string): number {
  let digits = minorUnitsByCurrency.get(currency);
  if (digits === undefined) {
    const icu = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
    digits = Math.max(isoCurrency(currency)?.digits ?? 0, icu);
    minorUnitsByCurrency.set(currency, digits);
  }
  return digits;
}

/** An exact decimal (Prisma's Decimal) formatted with exactly the currency's decimals: "12.50", "5000", "12.345". */
export function formatAmount(amount: { toFixed(digits: number): string }, currency: string): string {
  return amount.toFixed(minorUnits(currency));
}
