// What auth accepts as credentials: e-mail addresses normalised, passwords long enough and hard to guess.
import type { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { badUserInput } from '@fedstack/runtime';

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 128;

/** Scores 0–4; 3 is zxcvbn's "safely unguessable" for a slow hash such as argon2id. */
const MIN_STRENGTH = 3;

let estimator: ZxcvbnFactory | undefined;

/**
 * zxcvbn-ts with its common-password (49k) and diceware dictionaries and keyboard patterns, loaded and
 * built on the first password it judges: the modules alone hold about 13 MB, which a process that never
 * sees a registration or a password change should not carry. Only the first 64 characters are judged:
 * past that a password is strong anyway, and the work grows with the length (64: 36 ms at worst, 128: 68 ms).
 */
function passwordEstimator(): ZxcvbnFactory {
  /* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/consistent-type-imports -- loaded on demand, see above */
  if (!estimator) {
    const { ZxcvbnFactory } = require('@zxcvbn-ts/core') as typeof import('@zxcvbn-ts/core');
    const common = require('@zxcvbn-ts/language-common') as typeof import('@zxcvbn-ts/language-common');
    const en = require('@zxcvbn-ts/language-en') as typeof import('@zxcvbn-ts/language-en');
    estimator = new ZxcvbnFactory({ translations: en.translations, graphs: common.adjacencyGraphs, dictionary: common.dictionary, maxLength: 64 });
  }
  /* eslint-enable @typescript-eslint/no-require-imports, @typescript-eslint/consistent-type-imports */
  return estimator;
}

/** Emails are compared and stored trimmed and lower-cased. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * Throws BAD_USER_INPUT naming `field` if the password is too short or too long (OWASP ASVS: at least 12
 * characters, long passphrases allowed), or easy to guess: a common or breached password, a keyboard or
 * repeated pattern, or built from the account's email.
 */
export function assertAcceptablePassword(password: string, email: string, field: string): void {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
    throw badUserInput(field, `must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters long (got ${length})`);
  }
  const { score, feedback } = passwordEstimator().check(password, [email, email.split('@')[0] ?? '']);
  if (score < MIN_STRENGTH) {
    const why = feedback.warning ?? 'It is a common pattern.';
    throw badUserInput(field, `is too easy to guess: ${why} ${feedback.suggestions[0] ?? 'Add another word or two.'}`);
  }
}
