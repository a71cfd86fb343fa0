// What auth accepts as credentials: e-mail addresses normalised, passwords long enough and hard to guess.
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as en from '@zxcvbn-ts/language-en';
import { badUserInput } from '@fedstack/runtime';

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 128;

/** Scores 0–4; 3 is zxcvbn's "safely unguessable" for a slow hash such as argon2id. */
const MIN_STRENGTH = 3;

let estimator: ZxcvbnFactory | undefined;

/**
 * zxcvbn-ts with its common-password (49k) and diceware dictionaries and keyboard patterns, built on the
 * first password it judges (about 6 MB of heap). Only the first 64 characters are judged: past that a
 * password is strong anyway, and the work grows with the length (64: 36 ms at worst, 128: 68 ms).
 */
function passwordEstimator(): ZxcvbnFactory {
  estimator ??= new ZxcvbnFactory({ translations: en.translations, graphs: common.adjacencyGraphs, dictionary: common.dictionary, maxLength: 64 });
  return estimator;
}

/** Emails are compared and stored trimmed and lower-cased. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * Throws BAD_USER_INPUT naming `field` for an address in the `.invalid` top-level domain, which RFC 2606
 * keeps from ever being real, and where an erased account's address is kept (accounts.ts): taken first
 * by a registration, an erasure could not finish.
 */
export function assertRegistrableEmail(email: string, field: string): void {
  if (email.endsWith('.invalid')) throw badUserInput(field, 'must be an address that can exist (the .invalid domain never can)');
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
