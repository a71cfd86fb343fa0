import { explainConnectionError, withoutPasswords } from './errors';

describe('a connection URL printed for an operator to copy', () => {
  it.each([
    ['the user password', 'postgresql://owner:s3cret@db:5432/payments', 'postgresql://owner:<password>@db:5432/payments'],
    [
      "libpq's password parameter",
      'postgresql://owner@db:5432/payments?sslmode=require&password=s3cret',
      'postgresql://owner@db:5432/payments?sslmode=require&password=<password>',
    ],
    ['both', 'postgresql://owner:s3cret@db/payments?password=s3cret', 'postgresql://owner:<password>@db/payments?password=<password>'],
    ['none', 'postgresql://owner@db:5432/payments?sslmode=require', 'postgresql://owner@db:5432/payments?sslmode=require'],
  ])('holds no password: %s', (_case, url, printed) => {
    expect(withoutPasswords(url)).toBe(printed);
  });
});

describe('a connection refused', () => {
  it('says the URL gives no password where the server asks one (node-postgres says "client password must be a string")', () => {
    // node-postgres's words, as it throws them before anything reaches the server.
    const error = new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string');
    expect(explainConnectionError(error, 'postgresql://someone@db:5432/payments', '--to').message).toBe(
      '--to: cannot connect to PostgreSQL at someone@db:5432/payments: the server asks a password, and the URL gives none',
    );
  });
});
