// The benchmark's subscribers: graphql-ws clients as an app opens them, and the rounds of payments that tell when they are live.
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { BenchUser } from './subscriptions-driver';

/** What every subscriber subscribes to: each change to its user's payments. */
export const SUBSCRIPTION = 'subscription { paymentUpdated { id status amount createdAt user { id } } }';

/** Subscribers served and closed again before the baseline is read. */
export const WARM_UP_SUBSCRIBERS = 50;

/**
 * Subscribes once for each of `users`, pays until each subscription has seen an event (or ten rounds
 * have passed), and closes them: the code and caches of the subscription path are then warm.
 */
export async function warmUp(url: string, users: BenchUser[], pay: (user: BenchUser) => Promise<unknown>): Promise<void> {
  const seen = new Set<number>();
  const clients = users.map((user, index) => {
    const client = subscriberClient(url, user.token);
    client.subscribe({ query: SUBSCRIPTION }, { next: () => void seen.add(index), error: () => undefined, complete: () => undefined });
    return client;
  });
  await payUntilSeen(10, () => users.filter((_, index) => !seen.has(index)), pay);
  for (const client of clients) await client.dispose();
}

/**
 * A subscriber's connection. One refused or timed out while a busy machine opens a thousand (init
 * timeout, 4408) is made again, as graphql-ws clients do by default; one lost while measuring counts its
 * missed events as lost.
 */
export function subscriberClient(url: string, token: string, onNonLazyError?: (error: unknown) => void): Client {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    retryAttempts: 5,
    lazy: false,
    connectionParams: { authorization: `Bearer ${token}` },
    ...(onNonLazyError ? { onNonLazyError } : {}),
  });
}

/**
 * Pays for each user `unseen` names, every half second, until it names none or `rounds` have passed: a
 * client cannot otherwise tell when its subscription is live.
 */
export async function payUntilSeen(rounds: number, unseen: () => BenchUser[], pay: (user: BenchUser) => Promise<unknown>): Promise<void> {
  for (let round = 0; round < rounds; round += 1) {
    const left = unseen();
    if (left.length === 0) return;
    await Promise.all(left.map(pay));
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
