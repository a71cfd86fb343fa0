import { Kind } from 'graphql';
import { AppError, ErrorCode } from '@fedstack/runtime';
import { formatAmount, minorUnits, parseDecimal } from './money';
import { DecimalScalar } from './scalars';

const ACCEPTED = ['0', '12.50', '-0.5', '1000000', '0.001', '9'.repeat(40)];
const REFUSED = ['1e5', '0x10', 'Infinity', 'NaN', ' 1', '1 ', '01', '.5', '5.', '+1', '1,5', '', '-', '9'.repeat(41)];

describe('the one grammar of decimals', () => {
  it.each(ACCEPTED)('accepts %j exactly, as the Decimal scalar does', (text) => {
    expect(parseDecimal(text, 'input.amount').toFixed()).toBe(text.replace(/^(-?\d+\.\d*?)0+$/, '$1').replace(/\.$/, ''));
    expect(DecimalScalar.parseValue(text)).toBe(text);
    expect(DecimalScalar.parseLiteral({ kind: Kind.STRING, value: text })).toBe(text);
  });

  it.each(REFUSED)('refuses %j with BAD_USER_INPUT naming the field, as the Decimal scalar refuses it', (text) => {
    let refusal: unknown;
    try {
      parseDecimal(text, 'input.amount');
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(AppError);
    expect((refusal as AppError).code).toBe(ErrorCode.BAD_USER_INPUT);
    expect((refusal as AppError).extensions.field).toBe('input.amount');
    expect(() => DecimalScalar.parseValue(text)).toThrow(/Decimal must be a plain decimal number/);
  });

  it('formats an amount with exactly its currency’s decimals', () => {
    expect(formatAmount(parseDecimal('12.5', 'amount'), 'EUR')).toBe('12.50');
    expect(formatAmount(parseDecimal('5000', 'amount'), 'JPY')).toBe('5000');
    expect(formatAmount(parseDecimal('12.345', 'amount'), 'KWD')).toBe('12.345');
  });

  it("takes a currency's decimals from ISO 4217, not from ICU's display rounding (which gave HUF, COP and IQD none), nor ISO's none for the SDR", () => {
    expect(['HUF', 'COP', 'IDR', 'PKR', 'IQD', 'CLF', 'JPY', 'EUR', 'XDR', 'XSU'].map((currency) => [currency, minorUnits(currency)])).toEqual([
      ['HUF', 2],
      ['COP', 2],
      ['IDR', 2],
      ['PKR', 2],
      ['IQD', 3],
      ['CLF', 4],
      ['JPY', 0],
      ['EUR', 2],
      ['XDR', 2],
      ['XSU', 2],
    ]);
  });
});
