const minorUnitsByCurrency = new Map<string, number>();

/**
 * How many decimals a currency has (ISO 4217 minor units, as the runtime's ICU data knows them).
 * Remembered per currency: building an Intl.NumberFormat costs far more than formatting a list of amounts.
 */
export function minorUnits(currency: string): number {
  let digits = minorUnitsByCurrency.get(currency);
  if (digits === undefined) {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
    minorUnitsByCurrency.set(currency, digits);
  }
  return digits;
}

/** An exact decimal (Prisma's Decimal) formatted with exactly the currency's decimals: "12.50", "5000", "12.345". */
export function formatAmount(amount: { toFixed(digits: number): string }, currency: string): string {
  return amount.toFixed(minorUnits(currency));
}
