import { withoutPasswords } from './errors';

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
