import { type GraphQLError, buildSchema, parse, validate } from 'graphql';
import { carriedExactly, exactDecimalLiterals } from './decimal-literals';

describe('Decimal literals', () => {
  it.each(['12.50', '12.5', '10', '0', '-0.0', '0.001', '1000000', '1000000.00', '0.000001', '123456789012345.67'])(
    'passes on %s, which a number holds exactly',
    (literal) => {
      expect(carriedExactly(literal)).toBe(true);
    },
  );

  it.each([
    ['9.999999999999999999', 'rounded to 10'],
    ['12.500000000000000001', 'rounded to 12.5'],
    ['12345678901234567890', 'rounded to 12345678901234567000'],
    ['1e400', 'Infinity'],
    ['1e6', 'an exponent, which the subgraphs refuse'],
    ['0.0000001', 'passed on as 1e-7'],
    ['100000000000000000000000', 'passed on as 1e+23'],
  ])('refuses %s (%s)', (literal) => {
    expect(carriedExactly(literal)).toBe(false);
  });

  it('judges a literal of a million digits (quadratic work on it would outlast the test)', () => {
    expect(carriedExactly(`1${'0'.repeat(1_000_000)}1`)).toBe(false);
    expect(carriedExactly(`0.${'0'.repeat(1_000_000)}1`)).toBe(false);
    expect(carriedExactly(`1.${'0'.repeat(1_000_000)}`)).toBe(true);
  });

  it('refuses, as bad input, each inexact literal in a Decimal position: argument, list, input object, variable default', () => {
    const schema = buildSchema(`
      scalar Decimal
      input Pay { amount: Decimal!, note: Float }
      type Query { pay(input: Pay!, split: [Decimal!], plain: Float): Boolean }
    `);
    const refused: GraphQLError[] = [];
    const document = parse(`
      query ($d: Decimal = 0.10000000000000000001) {
        a: pay(input: { amount: 9.999999999999999999, note: 9.999999999999999999 }, plain: 1e400)
        b: pay(input: { amount: "9.999999999999999999" }, split: [1.5, 2e2])
        c: pay(input: { amount: $d })
      }
    `);
    expect(validate(schema, document, [exactDecimalLiterals((error) => refused.push(error))])).toEqual([]);
    expect(refused.map((error) => [error.message.split(' cannot')[0], error.extensions])).toEqual([
      ['Decimal literal 0.10000000000000000001', { code: 'BAD_USER_INPUT', http: { status: 400 } }],
      ['Decimal literal 9.999999999999999999', { code: 'BAD_USER_INPUT', http: { status: 400 } }],
      ['Decimal literal 2e2', { code: 'BAD_USER_INPUT', http: { status: 400 } }],
    ]);
  });
});
