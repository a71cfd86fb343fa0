// What the benchmark sends: the realistic mix of requests, the gateway-only rows, and signed-in users' access tokens.
import { randomUUID } from 'node:crypto';
import { SignJWT, importJWK, type JWK } from 'jose';
import { TOKEN_ALGORITHM, WAL_POSITIONS_HEADER, WalPositions, persistedQueryManifest, sha256Hex } from '@fedstack/runtime';
import type { AnswerHeaders, LoadRequest } from './load';
import { queryAt } from '@fedstack/shared-db/testing';

const ACCOUNT = `query Account { me { id email profile { displayName locale } payments(first: 5) { edges { node { id amount currency status } } } paymentTotals { currency amount } } }`;
const ME = 'query Me { me { id email role } }';
const PAY =
  'mutation Pay($key: String!) { createPayment(input: { amount: "9.99", currency: "EUR", paymentMethodToken: "tok_visa" }, idempotencyKey: $key) { id status } }';
const RENAME = 'mutation Rename($name: String!) { updateMyProfile(input: { displayName: $name }) { displayName } }';
const ADMIN_LIST =
  'query AdminList($first: Int!, $prefix: String!) { users(first: $first, filter: { emailPrefix: $prefix }) { edges { node { id email profile { displayName } paymentTotals { currency amount } } } } }';

/** One kind of request of the mix: how often it comes (in 20) and how each request of it is made. */
export interface MixEntry {
  name: string;
  inTwenty: number;
  make(sequence: number): { query: string; variables?: Record<string, unknown>; admin?: boolean };
}

/** The realistic mix of issue 14: reads across three subgraphs first, then `me`, writes and an admin list. */
export const MIX: MixEntry[] = [
  { name: 'my account (auth + profile + payments)', inTwenty: 10, make: () => ({ query: ACCOUNT }) },
  { name: 'me', inTwenty: 3, make: () => ({ query: ME }) },
  { name: 'createPayment', inTwenty: 3, make: (n) => ({ query: PAY, variables: { key: `bench-${process.pid}-${n}-${randomUUID()}` } }) },
  { name: 'updateMyProfile', inTwenty: 2, make: (n) => ({ query: RENAME, variables: { name: `Bench ${n}` } }) },
  // 9 page sizes × 90 prefixes (each, bench-10 to bench-99, matching 111 of the 10,000 seeded users): 810
  // requests, each 810 apart, in a row of admin lists alone; in the mix, whose admin slots are 2 of 20, 162,
  // each 1,620 apart. Far more than the connections there may be: no two the same in flight (settings.ts).
  {
    name: 'admin list of ~20',
    inTwenty: 2,
    make: (n) => ({ query: ADMIN_LIST, variables: { first: 16 + (n % 9), prefix: `bench-${10 + (((n / 9) % 90) | 0)}` }, admin: true }),
  },
];

export const ME_ENTRY = MIX[1] as MixEntry;

/** The gateway-only rows: the three-subgraph read of the mix, and an admin page of 20 users across all four. */
export const GATEWAY_ONLY: MixEntry[] = [
  { name: 'gateway only: my account (3 subgraphs)', inTwenty: 1, make: () => ({ query: ACCOUNT }) },
  // A thousand prefixes (the stubs answer any): with one admin token, a fixed request was the same in every
  // connection, which a gateway that shares identical requests in flight (Hive Gateway's default) answered
  // with one call for many.
  {
    name: 'gateway only: list of 20 users (3 subgraphs)',
    inTwenty: 1,
    make: (n) => ({ query: ADMIN_LIST, variables: { first: 20, prefix: `bench-${n % 1000}` }, admin: true }),
  },
];

/** Signed-in users' access tokens, and an admin's. */
export interface Tokens {
  users: string[];
  admin: string;
}

/**
 * Requests for one load target: entries of `entries` in their proportions, each from the next of the
 * signed-in users in turn, so that no two requests in flight together are the same (unless `sameToken`,
 * the row that shows what the gateway's deduplication of identical requests does). With `byId`, each
 * operation goes by its persisted id alone, as Apollo Client's persisted-query link sends it. With
 * `carryPositions`, each user (each token) behaves as a client that reads its own writes: it keeps the
 * WAL positions its answers give and sends them with its next request; `tally`, when given, counts the
 * requests made and those that carried positions. Users are taken in turn as requests are, so with as
 * many users as a multiple of the mix's 20 slots each user would make one kind of request only (one that
 * writes would never read); `everyOperation` takes one user fewer at a time until the count shares no
 * factor with the slots, so that each user goes through every operation of the mix in turn, reading
 * after it has written, as a client whose positions matter does.
 */
export function requests(
  entries: MixEntry[],
  tokens: Tokens,
  options: {
    sameToken?: boolean;
    byId?: boolean;
    carryPositions?: boolean;
    tally?: { requests: number; withPositions: number };
    everyOperation?: boolean;
  } = {},
): () => LoadRequest {
  const slots = entries.flatMap((entry) => Array<MixEntry>(entry.inTwenty).fill(entry));
  let users = tokens.users.length;
  while (options.everyOperation && users > 1 && greatestCommonDivisor(users, slots.length) !== 1) users -= 1;
  /** The furthest position of each service each client (token) was given: its answers may arrive out of order. */
  const positions = new Map<string, WalPositions>();
  const keep = (token: string) => (headers: AnswerHeaders) => {
    const given = headers[WAL_POSITIONS_HEADER];
    if (!given) return;
    const kept = positions.get(token) ?? new WalPositions();
    kept.merge(Array.isArray(given) ? given.join(',') : given);
    positions.set(token, kept);
  };
  let sequence = 0;
  return () => {
    sequence += 1;
    const entry = slots[sequence % slots.length] as MixEntry;
    const user = options.sameToken ? (tokens.users[0] as string) : (tokens.users[sequence % users] as string);
    const { query: text, variables, admin } = entry.make(sequence);
    const token = admin ? tokens.admin : user;
    const document = options.byId ? { extensions: { persistedQuery: { version: 1, sha256Hash: sha256Hex(text) } } } : { query: text };
    const body = JSON.stringify({ ...document, variables });
    if (!options.carryPositions) return { headers: { authorization: `Bearer ${token}` }, body };
    const carried = positions.get(token)?.toHeader();
    if (options.tally) {
      options.tally.requests += 1;
      if (carried) options.tally.withPositions += 1;
    }
    return { headers: { authorization: `Bearer ${token}`, ...(carried ? { [WAL_POSITIONS_HEADER]: carried } : {}) }, body, answered: keep(token) };
  };
}

const greatestCommonDivisor = (a: number, b: number): number => (b === 0 ? a : greatestCommonDivisor(b, a % b));

/** The entries' operations as an Apollo persisted query manifest, for a gateway that runs only those. */
export function manifestOf(entries: MixEntry[]): string {
  return persistedQueryManifest(
    entries.map((entry) => {
      const body = entry.make(0).query;
      const [, type, name] = /^(query|mutation|subscription) (\w+)/.exec(body) ?? [];
      if (!type || !name) throw new Error(`the mix's "${entry.name}" operation needs a name to be listed`);
      return { name, type: type as 'query' | 'mutation' | 'subscription', body };
    }),
  );
}

/** An access token as auth signs one, for a user and sign-in, with the run's key. */
export async function accessToken(privateJwk: string, claims: { userId: string; sessionId: string; role?: 'USER' | 'ADMIN' }): Promise<string> {
  const key = await importJWK(JSON.parse(privateJwk) as JWK, TOKEN_ALGORITHM);
  return new SignJWT({ role: claims.role ?? 'USER', sid: claims.sessionId })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM })
    .setIssuer('fedstack-auth')
    .setAudience('fedstack')
    .setSubject(claims.userId)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(key);
}

/** A sign-in a token is signed for. */
export interface Session {
  userId: string;
  sessionId: string;
}

/** How often a run's tokens are signed anew: each lasts 2 h, and a run of many or long rounds lasts longer. */
const RENEW_EVERY_MS = 30 * 60_000;

/**
 * Tokens for `users` and an admin that stay valid however long the run: signed anew every half hour, in
 * place (requests read them as they are made); `stop` ends that. The admin's was once a sign-in's through
 * the gateway, which lasts auth's ACCESS_TOKEN_TTL_SECONDS (15 minutes): rows after it were refusals.
 */
export async function signedIn(privateJwk: string, users: Session[], admin: Session): Promise<Tokens & { stop: () => void }> {
  const sign = async (): Promise<Tokens> => ({
    users: await Promise.all(users.map((session) => accessToken(privateJwk, session))),
    admin: await accessToken(privateJwk, { ...admin, role: 'ADMIN' }),
  });
  const timer = setInterval(() => void sign().then((fresh) => Object.assign(tokens, fresh)), RENEW_EVERY_MS);
  timer.unref();
  const tokens = { ...(await sign()), stop: () => clearInterval(timer) };
  return tokens;
}

/**
 * Signs in users as auth would, without hashing a password for each: a sign-in (session) row per user in
 * auth's database, lasting a week, for tokens signed with the run's key (`signedIn`).
 */
export async function sessionsFor(userIds: string[], authDatabase: string): Promise<Session[]> {
  const sessions = userIds.map((userId) => ({ userId, sessionId: randomUUID() }));
  await queryAt(
    authDatabase,
    `INSERT INTO auth.sessions (user_id, family_id, token_hash, expires_at)
     SELECT user_id, family_id, replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), now() + interval '7 days'
     FROM unnest($1::uuid[], $2::uuid[]) AS s(user_id, family_id)`,
    [sessions.map((session) => session.userId), sessions.map((session) => session.sessionId)],
  );
  return sessions;
}
