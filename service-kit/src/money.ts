/** How many decimals a currency has (ISO 4217 minor units, as the runtime's ICU data knows them). */
export function minorUnits(currency: string): number {
  return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
}

/** An exact decimal (Prisma's Decimal) formatted with exactly the currency's decimals: "12.50", "5000", "12.345". */
export function formatAmount(amount: { toFixed(digits: number): string }, currency: string): string {
  return amount.toFixed(minorUnits(currency));
}
