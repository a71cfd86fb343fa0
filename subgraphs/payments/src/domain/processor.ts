// Charging a payment method: the processor interface, and a simulated processor for demos and tests.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { badUserInput } from '@fedstack/runtime';

export interface ChargeRequest {
  /** Exact decimal string in the currency's major unit. */
  amount: string;
  currency: string;
  paymentMethodToken: string;
  /** Passed on so that a real processor deduplicates retries too. */
  idempotencyKey: string;
  /**
   * Aborted when the charge has taken too long and will be tried again later (the recovery worker): a
   * processor gives up then (passes it to its HTTP call), or the same payment may be charging twice at once.
   */
  signal?: AbortSignal;
}

export type ChargeResult = { approved: true; reference: string } | { approved: false; declineCode: string; message: string };

/** Where money actually moves. A real integration implements this; the simulated one ships by default. */
export interface PaymentProcessor {
  charge(request: ChargeRequest): Promise<ChargeResult>;
}

/** The test tokens the simulated processor declines, and why (documented in the schema and README). */
export const DECLINING_TOKENS: Record<string, { code: string; message: string }> = {
  tok_decline: { code: 'card_declined', message: 'The card was declined' },
  tok_insufficient_funds: { code: 'insufficient_funds', message: 'The card has insufficient funds' },
  tok_expired_card: { code: 'expired_card', message: 'The card has expired' },
};

const TOKEN = /^tok_[A-Za-z0-9_]{1,64}$/;

/**
 * Checks the token's shape before anything is recorded. The refusal states the rule but never shows the
 * value: a user who typed a card number where the token goes must not find it in the answer or the logs.
 */
export function assertTokenFormat(token: string, field: string): void {
  if (!TOKEN.test(token)) {
    throw badUserInput(
      field,
      `must be a processor token: "tok_" then 1 to 64 letters, digits or underscores, such as "tok_visa" (got ${[...token].length} characters)`,
    );
  }
}

/**
 * Approves every well-formed token except the documented declining ones; deterministic, no network.
 * Like a real processor it is idempotent: the same key gets the same reference. `delayMs` makes it
 * answer slowly (demos, and the tests that crash payments while it charges).
 */
export function simulatedProcessor(delayMs = 0): PaymentProcessor {
  return {
    async charge({ paymentMethodToken, idempotencyKey, signal }) {
      if (delayMs > 0) await sleep(delayMs, undefined, { signal });
      const decline = DECLINING_TOKENS[paymentMethodToken];
      if (decline) return { approved: false, declineCode: decline.code, message: decline.message };
      return { approved: true, reference: `sim_${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32)}` };
    },
  };
}
