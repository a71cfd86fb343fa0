import { assertAcceptablePassword } from './credentials';

const EMAIL = 'alice.walker@example.com';
const judge = (password: string) => {
  try {
    assertAcceptablePassword(password, EMAIL, 'input.password');
    return 'accepted';
  } catch (error) {
    return (error as Error).message;
  }
};

describe('password policy', () => {
  it.each(['correct horse battery staple', 'user-demo-password', 'Tr0ub4dor&3-extra', 'mauve lantern 42 orbit', 'x'.repeat(4) + 'Q9!zR7#pL2$w'])(
    'accepts %j',
    (password) => {
      expect(judge(password)).toBe('accepted');
    },
  );

  it.each([
    ['a breached password', 'password1234'],
    ['a keyboard walk', 'qwertyuiop12'],
    ['a breached password in leetspeak', 'p@ssw0rd1234'],
    ['one repeated character', 'aaaaaaaaaaaa'],
    ['a repeated pattern', 'abcabcabcabc'],
    ['a sequence', '123456789012'],
    ['the email with a digit', 'alice.walker@example.com1'],
    ["the email's local part", 'alice.walker2024'],
  ])('refuses %s as too easy to guess, saying why', (_label, password) => {
    expect(judge(password)).toMatch(/^input\.password: is too easy to guess: \S/);
  });

  it.each([
    ['11 characters', 'a'.repeat(5) + 'Q9!zR7', 11],
    ['129 characters', 'Q9!zR7#pL2$w'.repeat(11).slice(0, 129), 129],
  ])('refuses %s with the length rule first', (_label, password, length) => {
    expect(judge(password)).toBe(`input.password: must be 12 to 128 characters long (got ${length})`);
  });

  it('counts characters, not UTF-16 units', () => {
    expect(judge('🔑'.repeat(11))).toBe('input.password: must be 12 to 128 characters long (got 11)');
  });
});
