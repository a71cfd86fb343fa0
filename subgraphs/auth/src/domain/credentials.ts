import { badUserInput } from '@fedstack/runtime';

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 128;

/**
 * A small built-in list of passwords that are long enough for the length rule yet appear at the top of
 * breach corpora. A deployment that needs more should check a full corpus (e.g. a k-anonymity service).
 */
const BREACHED = new Set([
  '123456789012', '1234567890123', '12345678901234', '123456789123', '1q2w3e4r5t6y', 'qwertyuiop12',
  'qwerty123456', 'qwertyuiop123', 'qwertyuiopasdf', 'password1234', 'password12345', 'passwordpassword',
  'password123456', 'iloveyou1234', 'abc123456789', 'abcdefghijkl', 'administrator', 'welcome12345',
  'letmein12345', 'football1234', 'baseball1234', 'princess1234', 'sunshine1234', 'monkey123456',
  'superman1234', 'trustno11234', 'starwars1234', 'changeme1234', 'qazwsxedcrfv', '1qaz2wsx3edc',
  'zaq12wsxcde3', 'asdfghjkl123', 'zxcvbnm12345', 'aaaaaaaaaaaa', '111111111111', '000000000000',
  'p@ssw0rd1234', 'passw0rd1234', 'p@ssword1234', 'michael12345', 'jennifer1234', 'computer1234',
]);

/** Emails are compared and stored trimmed and lower-cased. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Throws BAD_USER_INPUT naming `field` if the password is too short, too long, or well known. */
export function assertAcceptablePassword(password: string, email: string, field: string): void {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
    throw badUserInput(field, `must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters long (got ${length})`);
  }
  const lowered = password.toLowerCase();
  if (BREACHED.has(lowered) || /^(.)\1+$/.test(password)) {
    throw badUserInput(field, 'is a commonly used password that appears in breach lists; choose another');
  }
  if (lowered === email || lowered === email.split('@')[0]) {
    throw badUserInput(field, 'must not be your email address');
  }
}
