import { createHash, createHmac, randomUUID } from 'node:crypto';
import { SignJWT, base64url, decodeJwt, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import { freePort, pollUntil } from '@fedstack/runtime';
import { hashPassword, ownerUrlFor, type QueryEvent } from '@fedstack/shared-db';
import { ERASE_COMMAND, type SubgraphServer } from '@fedstack/service-kit';
import {
  ISOLATED_PEERS,
  LogCapture,
  fakePeer,
  graphql,
  heldTransaction,
  ownerQuery,
  planOf,
  testSigningKey,
  ownerSql as sql,
} from '@fedstack/service-kit/testing';
import { loadAuthConfig } from './config';
import { createAuthServer } from './server';

interface RunningAuth {
  url: string;
  server: SubgraphServer<'auth'>;
  statements: QueryEvent[];
  logs: LogCapture;
}

let signing: { privateKey: string; publicJwk: JWK };

async function startAuth(env: NodeJS.ProcessEnv = {}): Promise<RunningAuth> {
  const statements: QueryEvent[] = [];
  const logs = new LogCapture();
  const config = loadAuthConfig({ ...process.env, ...ISOLATED_PEERS, AUTH_PORT: '0', LOG_LEVEL: 'info', JWT_PRIVATE_KEY: signing.privateKey, ...env });
  const server = await createAuthServer({ config, onQuery: (event) => statements.push(event), logDestination: logs });
  const base = await server.listen();
  return { url: `${base}/graphql`, server, statements, logs };
}

/**
 * An auth of its own whose admin is a stand-in (with admin's key, where this auth looks for it), for
 * admin's commands; both stopped after `work`.
 */
async function withAdminStandIn(env: NodeJS.ProcessEnv, work: (auth: RunningAuth, peer: Awaited<ReturnType<typeof fakePeer>>) => Promise<void>): Promise<void> {
  const adminPort = await freePort();
  const auth = await startAuth({ ...env, ADMIN_SUBGRAPH_URL: `http://127.0.0.1:${adminPort}/graphql` });
  const peer = await fakePeer('admin', { auth: auth.url.replace('/graphql', '') }, adminPort);
  try {
    await work(auth, peer);
  } finally {
    await auth.server.stop();
    await peer.close();
  }
}

const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) {
  accessToken refreshToken accessTokenExpiresAt user { id email role status } } }`;
const LOGIN = `mutation ($input: LoginInput!) { login(input: $input) { accessToken refreshToken user { id email lastLoginAt } } }`;
const REFRESH = `mutation ($token: String!) { refreshSession(refreshToken: $token) { accessToken refreshToken } }`;
const ME = '{ me { id email role status } }';

interface Session {
  accessToken: string;
  refreshToken: string;
  user: { id: string; email: string };
}

let seq = 0;
function freshEmail(): string {
  seq += 1;
  return `user${seq}-${Date.now().toString(36)}@Example.com`;
}
const PASSWORD = 'correct horse battery staple';
/** Statements waiting for a lock on a user's row (a sign-in's update, endSessions' lock), not on a throttle's counter. */
const WAITING_ON_USERS = `SELECT count(*)::int AS n FROM pg_stat_activity
  WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%auth%users%' AND query NOT ILIKE '%rate_limits%'`;
/** A hash of PASSWORD with weaker settings than today's: signing in with it stores a new one. */
const WEAK_HASH = '$argon2id$v=19$m=4096,t=3,p=1$hEiCElG3qTz6vF8oig5oAg$lncWvD7Qn4UsU494frgs26Lu6wwJYW71Iff91chXbsk';
/** What Jest's fake timers can fake, but Date: a test that moves the clock keeps real timers and I/O. */
const EVERYTHING_BUT_DATE: FakeableAPI[] = [
  'hrtime',
  'nextTick',
  'performance',
  'queueMicrotask',
  'requestAnimationFrame',
  'cancelAnimationFrame',
  'requestIdleCallback',
  'cancelIdleCallback',
  'setImmediate',
  'clearImmediate',
  'setInterval',
  'clearInterval',
  'setTimeout',
  'clearTimeout',
];

/**
 * Runs `work` with only Date faked, standing still from now until jest.advanceTimersByTime moves it: the
 * throttle's counters (rate-limiter-flexible reads Date) and tokens expire by the clock alone, however
 * slowly the machine runs the test, while sockets, timers and the database work as ever.
 */
async function withMovableDate(work: () => Promise<void>): Promise<void> {
  jest.useFakeTimers({ advanceTimers: false, doNotFake: EVERYTHING_BUT_DATE });
  try {
    await work();
  } finally {
    jest.useRealTimers();
  }
}

describe('auth subgraph', () => {
  let auth: RunningAuth;

  beforeAll(async () => {
    signing = await testSigningKey();
    auth = await startAuth();
  });
  afterAll(() => auth.server.stop());

  async function register(email = freshEmail(), password = PASSWORD): Promise<Session> {
    const result = await graphql<{ register: Session }>(auth.url, REGISTER, { variables: { input: { email, password } } });
    expect(result.errors).toBeUndefined();
    return result.data?.register as Session;
  }

  async function login(email: string, password: string, headers: Record<string, string> = {}) {
    return graphql<{ login: Session }>(auth.url, LOGIN, { variables: { input: { email, password } }, headers });
  }

  describe('registration and sign-in', () => {
    it('register → login → me, with the email normalised', async () => {
      const email = freshEmail().replace('user', 'MixedCase');
      const registered = await register(email);
      expect(registered.user.email).toBe(email.toLowerCase());
      const signedIn = await login(email.toUpperCase(), PASSWORD);
      expect(signedIn.errors).toBeUndefined();
      const me = await graphql<{ me: { id: string; email: string; role: string; status: string } }>(auth.url, ME, {
        token: signedIn.data?.login.accessToken as string,
      });
      expect(me.data?.me).toEqual({ id: registered.user.id, email: email.toLowerCase(), role: 'USER', status: 'ACTIVE' });
    });

    it('answers null for an anonymous me', async () => {
      expect((await graphql(auth.url, ME)).data).toEqual({ me: null });
    });

    it('refuses a taken email with CONFLICT and keeps one row', async () => {
      const email = freshEmail();
      await register(email);
      const again = await graphql(auth.url, REGISTER, { variables: { input: { email: email.toUpperCase(), password: PASSWORD } } });
      expect(again.errors?.[0]?.extensions?.code).toBe('CONFLICT');
      const rows = await sql<{ n: number }>('SELECT count(*)::int AS n FROM auth.users WHERE email = $1', [email.toLowerCase()]);
      expect(rows[0]?.n).toBe(1);
    });

    it.each([
      ['short', 'too-short', /12 to 128 characters/],
      ['too long', 'x'.repeat(129), /12 to 128 characters/],
      ['common', 'password1234', /too easy to guess/],
    ])('refuses a %s password as BAD_USER_INPUT naming the field, writing nothing', async (_label, password, message) => {
      const email = freshEmail();
      const result = await graphql(auth.url, REGISTER, { variables: { input: { email, password } } });
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.password' });
      expect(result.errors?.[0]?.message).toMatch(message);
      expect(await sql('SELECT 1 FROM auth.users WHERE email = $1', [email.toLowerCase()])).toHaveLength(0);
    });

    it("refuses an address in the .invalid domain, where an erased account's address is kept, so that no registration takes it first", async () => {
      const tombstone = `erased+${randomUUID()}@erased.invalid`;
      const result = await graphql(auth.url, REGISTER, { variables: { input: { email: tombstone, password: PASSWORD } } });
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.email' });
      expect(await sql('SELECT 1 FROM auth.users WHERE email = $1', [tombstone])).toHaveLength(0);
    });

    it('answers a wrong password and an unknown email identically', async () => {
      const { user } = await register();
      const wrongPassword = await login(user.email, 'not the password at all', { 'x-request-id': 'same' });
      const unknownEmail = await login(freshEmail(), 'not the password at all', { 'x-request-id': 'same' });
      expect(wrongPassword.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(JSON.stringify({ errors: unknownEmail.errors, data: unknownEmail.data })).toBe(
        JSON.stringify({ errors: wrongPassword.errors, data: wrongPassword.data }),
      );
      expect(unknownEmail.status).toBe(wrongPassword.status);
    });

    it('refuses a suspended user both sign-in and refresh', async () => {
      const session = await register();
      await sql(`UPDATE auth.users SET status = 'SUSPENDED' WHERE id = $1`, [session.user.id]);
      expect((await login(session.user.email, PASSWORD)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const refreshed = await graphql(auth.url, REFRESH, { variables: { token: session.refreshToken } });
      expect(refreshed.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    });
  });

  describe('sign-in and registration throttling', () => {
    let throttled: RunningAuth;
    // Clients at addresses of their own, as the gateway reports them (X-Forwarded-For from loopback).
    const from = (address: string) => ({ 'x-forwarded-for': address });
    const signIn = (email: string, password: string, address: string) =>
      graphql(throttled.url, LOGIN, { variables: { input: { email, password } }, headers: from(address) });
    beforeAll(async () => {
      throttled = await startAuth({
        TRUST_PROXY: 'loopback',
        LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS: '3',
        LOGIN_MAX_FAILURES_PER_ACCOUNT: '6',
        LOGIN_MAX_FAILURES_PER_ADDRESS: '1000',
        REGISTER_MAX_PER_ADDRESS: '3',
      });
    });
    afterAll(() => throttled.server.stop());

    it('counts an IPv6 client by its /64, and an IPv4 address mapped into IPv6 as that address', async () => {
      const { user } = await register();
      // Three failures from three addresses of one /64: the pair's limit (3) is reached.
      for (const host of ['1', '2', 'abcd:1']) {
        expect((await signIn(user.email, 'wrong password!!', `2001:db8:1:2::${host}`)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      }
      expect((await signIn(user.email, PASSWORD, '2001:db8:1:2:ffff::9')).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      expect((await signIn(user.email, PASSWORD, '2001:db8:1:3::1')).errors).toBeUndefined();
      const other = await register();
      for (let attempt = 0; attempt < 3; attempt += 1) {
        expect((await signIn(other.user.email, 'wrong password!!', '198.51.100.77')).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      }
      expect((await signIn(other.user.email, PASSWORD, '::ffff:198.51.100.77')).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    });

    it("stops an attacker's address after a few failures while the owner, from another address, still signs in", async () => {
      const { user } = await register();
      for (let attempt = 0; attempt < 3; attempt += 1) {
        expect((await signIn(user.email, 'wrong password!!', '198.51.100.1')).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      }
      const stopped = await signIn(user.email, PASSWORD, '198.51.100.1');
      expect(stopped.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) });
      expect(stopped.errors?.[0]?.extensions?.retryAfterSeconds as number).toBeLessThanOrEqual(900);
      const owner = await signIn(user.email, PASSWORD, '203.0.113.50');
      expect(owner.errors).toBeUndefined();
    });

    it('slows an account attacked from many addresses down, for longer each time, without locking it', async () => {
      await withMovableDate(async () => {
        const { user } = await register();
        for (let attempt = 0; attempt < 6; attempt += 1) await signIn(user.email, 'wrong password!!', `198.51.100.${10 + attempt}`);
        const paused = await signIn(user.email, PASSWORD, '203.0.113.60');
        expect(paused.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 2 });
        // Not yet: a second later the owner is still paused.
        jest.advanceTimersByTime(1000);
        expect((await signIn(user.email, PASSWORD, '203.0.113.61')).errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 1 });
        // The pause ends: the owner signs in.
        jest.advanceTimersByTime(1100);
        expect((await signIn(user.email, PASSWORD, '203.0.113.60')).errors).toBeUndefined();
      });
    });

    it("keeps counting the window's failures after a pause: one guess goes ahead, then a longer pause (each pause started the count again)", async () => {
      await withMovableDate(async () => {
        const { user } = await register();
        const guess = async (n: number) => (await signIn(user.email, 'wrong password!!', `198.51.100.${60 + n}`)).errors?.[0]?.extensions;
        for (let n = 0; n < 6; n += 1) expect((await guess(n))?.code).toBe('UNAUTHENTICATED');
        expect(await guess(6)).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 2 });
        jest.advanceTimersByTime(2100);
        expect((await guess(7))?.code).toBe('UNAUTHENTICATED');
        expect(await guess(8)).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 4 });
        jest.advanceTimersByTime(4100);
        expect((await guess(9))?.code).toBe('UNAUTHENTICATED');
        expect(await guess(10)).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 8 });
      });
    });

    it("does not count the owner's attempts that a pause refused: once it ends, the owner's own address signs in", async () => {
      await withMovableDate(async () => {
        const { user } = await register();
        // One failure past the account's limit (6), each from an address of its own: a 2 s pause.
        for (let attempt = 0; attempt < 7; attempt += 1) await signIn(user.email, 'wrong password!!', `198.51.100.${30 + attempt}`);
        // The owner, with the right password, retries as often as the pair's limit (3) meanwhile.
        for (let attempt = 0; attempt < 3; attempt += 1) {
          expect((await signIn(user.email, PASSWORD, '203.0.113.9')).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
        }
        jest.advanceTimersByTime(5000);
        expect((await signIn(user.email, PASSWORD, '203.0.113.9')).errors).toBeUndefined();
      });
    });

    it('does not pause an address the account has a live sign-in from, however long an attacker keeps the pause going', async () => {
      await withMovableDate(async () => {
        const { user } = await register();
        const home = '203.0.113.77';
        expect((await signIn(user.email, PASSWORD, home)).errors).toBeUndefined();
        const owner: unknown[] = [];
        for (let round = 0, address = 0; round < 6; round += 1) {
          // Seven guesses from addresses of their own each round: the account's limit reached again, a longer pause.
          for (let guess = 0; guess < 7; guess += 1, address += 1) await signIn(user.email, 'wrong password!!', `10.9.${address}.1`);
          const elsewhere = await signIn(user.email, PASSWORD, `203.0.113.${100 + round}`);
          expect(elsewhere.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
          owner.push((await signIn(user.email, PASSWORD, home)).errors?.[0]?.extensions?.code ?? 'signed in');
          // The owner's sign-in does not lift the pause for everyone else.
          expect((await signIn(user.email, PASSWORD, `203.0.113.${150 + round}`)).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
          jest.advanceTimersByTime(Number(elsewhere.errors?.[0]?.extensions?.retryAfterSeconds) * 1000 + 100);
        }
        expect(owner).toEqual(Array(6).fill('signed in'));
      });
    });

    it('counts guesses from an address the owner only refreshed from (a shared carrier or VPN address) against the account', async () => {
      const { user } = await register();
      const home = '203.0.113.78';
      const shared = '198.51.100.240';
      const session = (await signIn(user.email, PASSWORD, home)).data?.login as Session;
      const refreshed = await graphql(throttled.url, REFRESH, { variables: { token: session.refreshToken }, headers: from(shared) });
      expect(refreshed.errors).toBeUndefined();
      // Three guesses from the shared address reach its pair's limit; the account's (6) is reached with the
      // guesses from elsewhere, and pauses the shared address as well.
      for (let guess = 0; guess < 3; guess += 1) await signIn(user.email, 'wrong password!!', shared);
      for (let guess = 0; guess < 4; guess += 1) await signIn(user.email, 'wrong password!!', `10.8.${guess}.1`);
      expect((await signIn(user.email, PASSWORD, '198.51.100.241')).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      expect((await signIn(user.email, PASSWORD, home)).errors).toBeUndefined();
    });

    it('counts guesses sent in parallel too: no more than the limit reach the password check', async () => {
      const { user } = await register();
      const answers = await Promise.all(Array.from({ length: 10 }, () => signIn(user.email, 'wrong password!!', '198.51.100.99')));
      const codes = answers.map((answer) => answer.errors?.[0]?.extensions?.code);
      expect(codes.filter((code) => code === 'UNAUTHENTICATED')).toHaveLength(3);
      expect(codes.filter((code) => code === 'RATE_LIMITED')).toHaveLength(7);
    });

    it('throttles unknown e-mails the same way, and stores neither e-mails nor addresses, only keyed hashes of them that expire', async () => {
      const email = freshEmail();
      for (let attempt = 0; attempt < 3; attempt += 1) await signIn(email, 'wrong password!!', '198.51.100.120');
      expect((await signIn(email, 'wrong password!!', '198.51.100.120')).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      const rows = await sql<{ key: string; expire: Date | null }>('SELECT key, expire FROM auth.rate_limits');
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) {
        expect(row.key).toMatch(/^[a-z-]+:[0-9a-f]{64}$/);
        expect(row.expire).toBeInstanceOf(Date);
      }
      expect(JSON.stringify(rows)).not.toContain(email.split('@')[0]);
    });

    it('keys its counters by HMACs under THROTTLE_KEY_SECRET, which erasure finds and deletes', async () => {
      const secret = 'the throttle key secret of this test, 48 chars.';
      await withAdminStandIn({ TRUST_PROXY: 'loopback', THROTTLE_KEY_SECRET: secret }, async (keyed, admin) => {
        const { user } = await register();
        const address = '198.51.100.140';
        const failed = await graphql(keyed.url, LOGIN, { variables: { input: { email: user.email, password: 'wrong password!!' } }, headers: from(address) });
        expect(failed.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
        const hmac = (key: string, ...parts: string[]) => createHmac('sha256', key).update(parts.join('\u0000')).digest('hex');
        const counters = [
          `login-account:${hmac(secret, user.email)}`,
          `login-address:${hmac(secret, address)}`,
          `login-pair:${hmac(secret, user.email, address)}`,
        ];
        const stored = async () => (await sql<{ key: string }>('SELECT key FROM auth.rate_limits')).map((row) => row.key);
        expect(await stored()).toEqual(expect.arrayContaining(counters));
        // What anyone holding the table could compute without the secret matches nothing in it.
        const sha256 = (...parts: string[]) => createHash('sha256').update(parts.join('\u0000')).digest('hex');
        const anotherSecret = 'another secret, just as long as the first one...';
        const guesses = [sha256(address), sha256(user.email), sha256(user.email, address), hmac(anotherSecret, address), hmac(anotherSecret, user.email)];
        expect((await stored()).filter((key) => guesses.some((guess) => key.endsWith(guess)))).toEqual([]);

        const { id: adminId } = (await sql<{ id: string }>(`SELECT id FROM auth.users WHERE email = 'admin@example.com'`))[0] as { id: string };
        const erased = await admin.client.command<{ changes: unknown[] }>('auth', ERASE_COMMAND, {
          actor: { userId: adminId, requestId: 'r' },
          userId: user.id,
        });
        expect(erased.changes).toContainEqual({ table: 'rate_limits', action: 'deleted', rows: 1 });
        expect(await stored()).not.toContain(counters[0]);
      });
    });

    it('keeps the counters in PostgreSQL, so a restarted server still refuses', async () => {
      const { user } = await register();
      for (let attempt = 0; attempt < 3; attempt += 1) await signIn(user.email, 'wrong password!!', '198.51.100.130');
      const restarted = await startAuth({ TRUST_PROXY: 'loopback', LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS: '3' });
      try {
        const locked = await graphql(restarted.url, LOGIN, {
          variables: { input: { email: user.email, password: PASSWORD } },
          headers: from('198.51.100.130'),
        });
        expect(locked.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      } finally {
        await restarted.server.stop();
      }
    });

    it('limits registrations per address, counting every aliased register in one request', async () => {
      const emails = Array.from({ length: 5 }, () => freshEmail());
      const aliases = emails.map((email, index) => `r${index}: register(input: { email: "${email}", password: "${PASSWORD}" }) { user { id } }`);
      const answer = await graphql(throttled.url, `mutation { ${aliases.join(' ')} }`, { headers: from('198.51.100.200') });
      // The fourth is refused, and (its result being non-null) stops the mutation there.
      expect((answer.errors ?? []).map((error) => [error.path?.[0], error.extensions?.code])).toEqual([['r3', 'RATE_LIMITED']]);
      expect(await sql('SELECT 1 FROM auth.users WHERE email = ANY($1)', [emails.map((email) => email.toLowerCase())])).toHaveLength(3);
      // Past the limit, nothing more is checked (a password's strength costs CPU): refused at once.
      const weak = await graphql(throttled.url, REGISTER, {
        variables: { input: { email: freshEmail(), password: 'password1234' } },
        headers: from('198.51.100.200'),
      });
      expect(weak.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      // Another address is not affected.
      const elsewhere = await graphql(throttled.url, REGISTER, {
        variables: { input: { email: freshEmail(), password: PASSWORD } },
        headers: from('198.51.100.201'),
      });
      expect(elsewhere.errors).toBeUndefined();
    });

    it("does not count a registration refused for its input against the address's registrations", async () => {
      const address = '198.51.100.222';
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const weak = await graphql(throttled.url, REGISTER, {
          variables: { input: { email: freshEmail(), password: 'password1234' } },
          headers: from(address),
        });
        expect(weak.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.password' });
      }
      const valid = await graphql(throttled.url, REGISTER, { variables: { input: { email: freshEmail(), password: PASSWORD } }, headers: from(address) });
      expect(valid.errors).toBeUndefined();
    });

    it('does not say that an account exists when its e-mail is registered again', async () => {
      const { user } = await register();
      const again = await graphql(throttled.url, REGISTER, {
        variables: { input: { email: user.email, password: PASSWORD } },
        headers: from('198.51.100.202'),
      });
      expect(again.errors?.[0]?.extensions?.code).toBe('CONFLICT');
      expect(again.errors?.[0]?.message).not.toMatch(/exist/i);
    });
  });

  describe('refresh tokens', () => {
    it('rotate on every use: the new one works, the old one no longer does', async () => {
      const session = await register();
      const first = await graphql<{ refreshSession: Session }>(auth.url, REFRESH, { variables: { token: session.refreshToken } });
      expect(first.errors).toBeUndefined();
      const rotated = first.data?.refreshSession as Session;
      expect(rotated.refreshToken).not.toBe(session.refreshToken);
      const me = await graphql<{ me: { id: string } }>(auth.url, ME, { token: rotated.accessToken });
      expect(me.data?.me.id).toBe(session.user.id);
      const stored = await sql<{ token_hash: string }>('SELECT token_hash FROM auth.sessions WHERE user_id = $1', [session.user.id]);
      expect(stored.map((row) => row.token_hash)).not.toContain(session.refreshToken);
    });

    it('revoke the whole family when a rotated token is presented again, the newest included', async () => {
      const session = await register();
      const second = (await graphql<{ refreshSession: Session }>(auth.url, REFRESH, { variables: { token: session.refreshToken } })).data
        ?.refreshSession as Session;
      const third = (await graphql<{ refreshSession: Session }>(auth.url, REFRESH, { variables: { token: second.refreshToken } })).data
        ?.refreshSession as Session;

      const replay = await graphql(auth.url, REFRESH, { variables: { token: session.refreshToken } });
      expect(replay.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(replay.errors?.[0]?.message).toMatch(/already used/);

      const newest = await graphql(auth.url, REFRESH, { variables: { token: third.refreshToken } });
      expect(newest.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      const open = await sql<{ n: number }>('SELECT count(*)::int AS n FROM auth.sessions WHERE user_id = $1 AND revoked_at IS NULL', [session.user.id]);
      expect(open[0]?.n).toBe(0);
    });

    it('let exactly one of two concurrent refreshes with the same token succeed, and its tokens work', async () => {
      const session = await register();
      const results = await Promise.all(
        [0, 1].map(() => graphql<{ refreshSession: Session }>(auth.url, REFRESH, { variables: { token: session.refreshToken } })),
      );
      const [won, lost] = [results.find((result) => !result.errors), results.find((result) => result.errors)];
      expect(lost?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(lost?.errors?.[0]?.message).toMatch(/a moment ago/);
      const rotated = won?.data?.refreshSession as Session;
      expect((await graphql(auth.url, ME, { token: rotated.accessToken })).errors).toBeUndefined();
      expect((await graphql(auth.url, REFRESH, { variables: { token: rotated.refreshToken } })).errors).toBeUndefined();
    });

    it('take a rotated token presented again once the moment for a race has passed for theft, though its successor went unused', async () => {
      await withMovableDate(async () => {
        const session = await register();
        const rotated = (await graphql<{ refreshSession: Session }>(auth.url, REFRESH, { variables: { token: session.refreshToken } })).data
          ?.refreshSession as Session;
        jest.advanceTimersByTime(11_000);
        const replay = await graphql(auth.url, REFRESH, { variables: { token: session.refreshToken } });
        expect(replay.errors?.[0]?.message).toMatch(/already used/);
        expect((await graphql(auth.url, REFRESH, { variables: { token: rotated.refreshToken } })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      });
    });

    it("are removed a day after their sign-in's newest one expired, as new ones are issued; a live sign-in keeps every one", async () => {
      const [live, other] = [await register(), await register()];
      const liveFamily = String(decodeJwt(live.accessToken).sid);
      /** Tokens issued `ages` ago, in one sign-in, each replaced by the next; ids oldest first. */
      const chain = async (userId: string, family: string, ...ages: string[]) => {
        const ids: string[] = [];
        for (const age of ages) {
          const [row] = await sql<{ id: string }>(
            `INSERT INTO auth.sessions (user_id, family_id, token_hash, expires_at) VALUES ($1, $2, md5(random()::text), now() - $3::interval) RETURNING id`,
            [userId, family, age],
          );
          if (ids.length > 0) await sql(`UPDATE auth.sessions SET replaced_by_id = $2, rotated_at = now() WHERE id = $1`, [ids.at(-1), row?.id]);
          ids.push(row?.id as string);
        }
        return ids;
      };
      const ended = await chain(other.user.id, randomUUID(), '4 days', '3 days', '2 days');
      const endedToday = await chain(other.user.id, randomUUID(), '1 hour');
      // A token the live sign-in rotated long ago, replaced by the one it holds now.
      const [rotated] = await chain(live.user.id, liveFamily, '3 days');
      await sql(
        `UPDATE auth.sessions SET replaced_by_id = (SELECT id FROM auth.sessions WHERE family_id = $2 AND replaced_by_id IS NULL AND id <> $1) WHERE id = $1`,
        [rotated, liveFamily],
      );
      const kept = async (ids: string[]) =>
        (await sql<{ id: string }>('SELECT id FROM auth.sessions WHERE id = ANY($1::uuid[])', [ids])).map((row) => row.id).sort();

      const refreshed = await graphql<{ refreshSession: Session }>(auth.url, REFRESH, { variables: { token: live.refreshToken } });
      expect(refreshed.errors).toBeUndefined();
      expect(await kept([...ended, ...endedToday, rotated as string])).toEqual([...endedToday, rotated as string].sort());
    });

    it('logout ends that sign-in; logoutEverywhere ends them all', async () => {
      const { user } = await register();
      const a = (await login(user.email, PASSWORD)).data?.login as Session;
      const b = (await login(user.email, PASSWORD)).data?.login as Session;
      expect((await graphql(auth.url, 'mutation ($t: String!) { logout(refreshToken: $t) }', { variables: { t: a.refreshToken } })).data).toEqual({
        logout: true,
      });
      expect((await graphql(auth.url, REFRESH, { variables: { token: a.refreshToken } })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect((await graphql(auth.url, REFRESH, { variables: { token: b.refreshToken } })).errors).toBeUndefined();

      const c = (await login(user.email, PASSWORD)).data?.login as Session;
      const everywhere = await graphql(auth.url, 'mutation { logoutEverywhere }', { token: c.accessToken });
      expect(everywhere.data).toEqual({ logoutEverywhere: true });
      expect((await graphql(auth.url, REFRESH, { variables: { token: c.refreshToken } })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    });

    it("change a password, and rehash one at sign-in, locking the user's row before the credential, as erasure does", async () => {
      const [changing, rehashing] = [await register(), await register()];
      await sql('UPDATE auth.password_credentials SET password_hash = $2 WHERE user_id = $1', [rehashing.user.id, WEAK_HASH]);
      const ids = [changing.user.id, rehashing.user.id];
      // An erasure of both, as far as its first lock: its next step deletes their credentials.
      const erasure = await heldTransaction('auth', 'SELECT id FROM auth.users WHERE id = ANY($1::uuid[]) FOR UPDATE', [ids]);
      const changed = graphql(auth.url, 'mutation ($input: ChangePasswordInput!) { changePassword(input: $input) }', {
        token: changing.accessToken,
        variables: { input: { currentPassword: PASSWORD, newPassword: 'another long passphrase' } },
      });
      const signedIn = login(rehashing.user.email, PASSWORD);
      try {
        await pollUntil('both wait for the erasure', async () => ((await ownerQuery<{ n: number }>('auth', WAITING_ON_USERS))[0]?.n ?? 0) >= 2, {
          timeoutMs: 20_000,
        });
        // Neither holds its credential while it waits, so the erasure could go on (the other order deadlocks).
        const free = await sql('SELECT user_id FROM auth.password_credentials WHERE user_id = ANY($1::uuid[]) FOR UPDATE NOWAIT', [ids]);
        expect(free).toHaveLength(2);
      } finally {
        await erasure.release();
      }
      expect(await changed).toMatchObject({ data: { changePassword: true } });
      expect(await signedIn).toMatchObject({ data: { login: { user: { id: rehashing.user.id } } } });
      const [stored] = await sql<{ password_hash: string }>('SELECT password_hash FROM auth.password_credentials WHERE user_id = $1', [rehashing.user.id]);
      expect(stored?.password_hash).not.toBe(WEAK_HASH);
    });

    it('refuses a sign-in or a password change overtaken, while it verified the password, by a change to the account', async () => {
      const [signingIn, suspended, changing] = [await register(), await register(), await register()];
      // signingIn's hash is due for a rehash, which signing in would store.
      await sql('UPDATE auth.password_credentials SET password_hash = $2 WHERE user_id = $1', [signingIn.user.id, WEAK_HASH]);
      const newHash = await hashPassword('another long passphrase');
      const CHANGE_PASSWORD = `WITH locked AS (SELECT id FROM auth.users WHERE id = $1 FOR NO KEY UPDATE)
        UPDATE auth.password_credentials c SET password_hash = $2 FROM locked WHERE c.user_id = locked.id`;
      // Each account changed by another transaction (a password change, a suspension), holding the user's row
      // until the request below has read the account and verified the password it read.
      const changes = [
        await heldTransaction('auth', CHANGE_PASSWORD, [signingIn.user.id, newHash]),
        await heldTransaction('auth', `UPDATE auth.users SET status = 'SUSPENDED' WHERE id = $1`, [suspended.user.id]),
        await heldTransaction('auth', CHANGE_PASSWORD, [changing.user.id, newHash]),
      ];
      const ids = [signingIn.user.id, suspended.user.id, changing.user.id];
      const sessions = async () => (await sql<{ n: number }>('SELECT count(*)::int AS n FROM auth.sessions WHERE user_id = ANY($1::uuid[])', [ids]))[0]?.n;
      const sessionsBefore = await sessions();
      const requests = Promise.all([
        login(signingIn.user.email, PASSWORD),
        login(suspended.user.email, PASSWORD),
        graphql(auth.url, 'mutation ($input: ChangePasswordInput!) { changePassword(input: $input) }', {
          token: changing.accessToken,
          variables: { input: { currentPassword: PASSWORD, newPassword: 'a third long passphrase' } },
        }),
      ]);
      try {
        await pollUntil('all three wait for the changes', async () => ((await ownerQuery<{ n: number }>('auth', WAITING_ON_USERS))[0]?.n ?? 0) >= 3, {
          timeoutMs: 20_000,
        });
      } finally {
        for (const change of changes) await change.commit();
      }
      const [signedIn, suspendedSignIn, changed] = await requests;
      expect(signedIn.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(suspendedSignIn.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect(changed.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.currentPassword' });
      // None of them wrote anything: no sign-in started, and the other change's password stands (no rehash of the old one over it).
      expect(await sessions()).toBe(sessionsBefore);
      const stored = await sql<{ password_hash: string }>('SELECT password_hash FROM auth.password_credentials WHERE user_id = ANY($1::uuid[])', [
        [signingIn.user.id, changing.user.id],
      ]);
      expect(stored.map((row) => row.password_hash)).toEqual([newHash, newHash]);
    });

    it("signs in twice at once with a password due for a rehash: the second sees the first's rehash and verifies again", async () => {
      const { user } = await register();
      await sql('UPDATE auth.password_credentials SET password_hash = $2 WHERE user_id = $1', [user.id, WEAK_HASH]);
      // Both verify against the weak hash while the user's row is held, then take it in turn.
      const held = await heldTransaction('auth', 'SELECT id FROM auth.users WHERE id = $1 FOR NO KEY UPDATE', [user.id]);
      const signIns = Promise.all([login(user.email, PASSWORD), login(user.email, PASSWORD)]);
      try {
        await pollUntil('both wait for the row', async () => ((await ownerQuery<{ n: number }>('auth', WAITING_ON_USERS))[0]?.n ?? 0) >= 2, {
          timeoutMs: 20_000,
        });
      } finally {
        await held.release();
      }
      for (const signedIn of await signIns) expect(signedIn.errors).toBeUndefined();
      const [stored] = await sql<{ password_hash: string }>('SELECT password_hash FROM auth.password_credentials WHERE user_id = $1', [user.id]);
      expect(stored?.password_hash).not.toBe(WEAK_HASH);
      expect((await login(user.email, PASSWORD)).errors).toBeUndefined();
    });

    it('changePassword ends every other sign-in but keeps the current one', async () => {
      const { user } = await register();
      const current = (await login(user.email, PASSWORD)).data?.login as Session;
      const other = (await login(user.email, PASSWORD)).data?.login as Session;
      const CHANGE = 'mutation ($input: ChangePasswordInput!) { changePassword(input: $input) }';
      const wrong = await graphql(auth.url, CHANGE, {
        token: current.accessToken,
        variables: { input: { currentPassword: 'not it at all', newPassword: 'another long passphrase' } },
      });
      expect(wrong.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.currentPassword' });
      const changed = await graphql(auth.url, CHANGE, {
        token: current.accessToken,
        variables: { input: { currentPassword: PASSWORD, newPassword: 'another long passphrase' } },
      });
      expect(changed.data).toEqual({ changePassword: true });
      expect((await graphql(auth.url, REFRESH, { variables: { token: other.refreshToken } })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect((await graphql(auth.url, REFRESH, { variables: { token: current.refreshToken } })).errors).toBeUndefined();
      expect((await login(user.email, 'another long passphrase')).errors).toBeUndefined();
      expect((await login(user.email, PASSWORD)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    });
  });

  describe('access tokens', () => {
    async function forge(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'EdDSA' }) {
      const key = await importJWK(JSON.parse(signing.privateKey) as JWK, 'EdDSA');
      return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key);
    }
    const now = () => Math.floor(Date.now() / 1000);
    const validClaims = (userId: string, sid = '00000000-0000-4000-8000-000000000000') => ({
      iss: 'fedstack-auth',
      aud: 'fedstack',
      sub: userId,
      role: 'USER',
      sid,
      jti: 'x',
      iat: now(),
      exp: now() + 60,
    });

    it('accepts a correctly signed token with the pinned claims, for a sign-in that has not ended', async () => {
      const { user, accessToken } = await register();
      const sid = String(decodeJwt(accessToken).sid);
      const me = await graphql<{ me: { id: string } }>(auth.url, ME, { token: await forge(validClaims(user.id, sid)) });
      expect(me.data?.me.id).toBe(user.id);
      const unknownSignIn = await graphql(auth.url, ME, { token: await forge(validClaims(user.id)) });
      expect(unknownSignIn.errors?.[0]).toMatchObject({ message: expect.stringMatching(/sign-in has ended/), extensions: { code: 'UNAUTHENTICATED' } });
    });

    it.each([
      ['expired', async (id: string) => forge({ ...validClaims(id), iat: now() - 120, exp: now() - 60 }), /expired/],
      ['for another issuer', async (id: string) => forge({ ...validClaims(id), iss: 'someone-else' }), /"iss"/],
      ['for another audience', async (id: string) => forge({ ...validClaims(id), aud: 'another-api' }), /"aud"/],
      ['for a sign-in id that is not one', async (id: string) => forge({ ...validClaims(id), sid: 'not-a-uuid' }), /unexpected claims/],
      [
        'tampered (role changed after signing)',
        async (id: string) => {
          const [header, , signature] = (await forge(validClaims(id))).split('.');
          return `${header}.${base64url.encode(JSON.stringify({ ...validClaims(id), role: 'ADMIN' }))}.${signature}`;
        },
        /not valid/,
      ],
      [
        'unsigned (alg: none)',
        async (id: string) => `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url.encode(JSON.stringify(validClaims(id)))}.`,
        /not valid/,
      ],
      [
        'HS256 signed with the public key as the secret',
        async (id: string) =>
          new SignJWT(validClaims(id)).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(JSON.stringify(signing.publicJwk))),
        /not valid/,
      ],
    ])('refuses a token that is %s with UNAUTHENTICATED', async (_label, make, message) => {
      const { user } = await register();
      const result = await graphql(auth.url, ME, { token: await make(user.id) });
      expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(result.errors?.[0]?.message).toMatch(message);
      expect(result.data).toEqual({ me: null });
    });

    it('serves the public key as a JWKS, with no private part', async () => {
      const jwks = (await (await fetch(auth.url.replace('/graphql', '/.well-known/jwks.json'))).json()) as { keys: JWK[] };
      expect(jwks.keys).toHaveLength(1);
      expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', x: signing.publicJwk.x });
      expect(jwks.keys[0]).not.toHaveProperty('d');
    });

    it('takes, in a rotation, the tokens of a replica on the other key, when each names it in JWT_OTHER_PUBLIC_KEYS, and serves both keys', async () => {
      const next = await testSigningKey();
      // Mid-rotation: a replica already on the next key, which the one still on the current key names, and the other way round.
      const current = await startAuth({ JWT_OTHER_PUBLIC_KEYS: JSON.stringify(next.publicJwk) });
      const moved = await startAuth({ JWT_PRIVATE_KEY: next.privateKey, JWT_OTHER_PUBLIC_KEYS: JSON.stringify({ keys: [signing.publicJwk] }) });
      const alone = await startAuth({ JWT_PRIVATE_KEY: next.privateKey });
      try {
        const email = freshEmail();
        const signedUp = await graphql<{ register: Session }>(current.url, REGISTER, { variables: { input: { email, password: PASSWORD } } });
        const signedIn = await graphql<{ login: Session }>(moved.url, LOGIN, { variables: { input: { email, password: PASSWORD } } });
        const tokens = [signedUp.data?.register.accessToken as string, signedIn.data?.login.accessToken as string];
        expect(tokens.map((token) => decodeProtectedHeader(token).kid)).toEqual([signing.publicJwk.kid, next.publicJwk.kid]);
        for (const replica of [current, moved]) {
          for (const token of tokens)
            expect((await graphql(replica.url, ME, { token })).data).toEqual({ me: expect.objectContaining({ id: signedUp.data?.register.user.id }) });
          const jwks = (await (await fetch(replica.url.replace('/graphql', '/.well-known/jwks.json'))).json()) as { keys: JWK[] };
          expect(jwks.keys.map((key) => key.x).sort()).toEqual([signing.publicJwk.x, next.publicJwk.x].sort());
        }
        // Without the setting, a replica takes only its own key's tokens.
        const refused = await graphql(alone.url, ME, { token: tokens[0] });
        expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      } finally {
        await Promise.all([current, moved, alone].map((replica) => replica.server.stop()));
      }
    });

    it.each([
      ['a private key', async () => (await testSigningKey()).privateKey, /^JWT_OTHER_PUBLIC_KEYS holds a private key/],
      [
        "another key under the signing key's kid",
        async () => JSON.stringify({ ...(await testSigningKey()).publicJwk, kid: signing.publicJwk.kid }),
        /^JWT_OTHER_PUBLIC_KEYS holds another key under the kid of the key this process signs with/,
      ],
      ['not a key', async () => 'current-and-next', /^JWT_OTHER_PUBLIC_KEYS is not Ed25519 public keys/],
    ])('does not start on JWT_OTHER_PUBLIC_KEYS holding %s, naming it', async (_label, value, message) => {
      const config = loadAuthConfig({
        ...process.env,
        ...ISOLATED_PEERS,
        AUTH_PORT: '0',
        JWT_PRIVATE_KEY: signing.privateKey,
        JWT_OTHER_PUBLIC_KEYS: await value(),
      });
      await expect(createAuthServer({ config, logDestination: new LogCapture() })).rejects.toThrow(message);
    });
  });

  describe('users', () => {
    let admin: Session;
    let alice: Session;
    beforeAll(async () => {
      admin = (await login('admin@example.com', 'admin-demo-password')).data?.login as Session;
      alice = (await login('alice@example.com', 'user-demo-password')).data?.login as Session;
    });

    it('user(id) is visible to the user and to admins, FORBIDDEN to anyone else', async () => {
      const bob = await register();
      const query = 'query ($id: ID!) { user(id: $id) { email } }';
      expect((await graphql(auth.url, query, { token: bob.accessToken, variables: { id: bob.user.id } })).data).toEqual({
        user: { email: bob.user.email },
      });
      expect((await graphql(auth.url, query, { token: admin.accessToken, variables: { id: bob.user.id } })).data).toEqual({
        user: { email: bob.user.email },
      });
      const other = await graphql(auth.url, query, { token: alice.accessToken, variables: { id: bob.user.id } });
      expect(other.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const anonymous = await graphql(auth.url, query, { variables: { id: bob.user.id } });
      expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    });

    it("as an entity, reached directly, tells someone who may not read it nothing of whether another user's id is an account", async () => {
      const bob = await register();
      const entities = 'query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { id } } }';
      const representations = [
        { __typename: 'User', id: bob.user.id },
        { __typename: 'User', id: randomUUID() },
      ];
      const answer = await graphql<{ _entities: unknown[] }>(auth.url, entities, { token: alice.accessToken, variables: { r: representations } });
      expect(answer.data?._entities).toEqual([null, null]);
      expect(answer.errors?.map((error) => [error.path, error.extensions?.code])).toEqual([
        [['_entities', 0], 'FORBIDDEN'],
        [['_entities', 1], 'FORBIDDEN'],
      ]);
      // The user, and an admin, are answered.
      const own = await graphql<{ _entities: unknown[] }>(auth.url, entities, { token: bob.accessToken, variables: { r: representations.slice(0, 1) } });
      expect(own.data?._entities).toEqual([{ id: bob.user.id }]);
      const admins = await graphql<{ _entities: unknown[] }>(auth.url, entities, { token: admin.accessToken, variables: { r: representations } });
      expect(admins.data?._entities).toEqual([{ id: bob.user.id }, null]);
    });

    it('users() pages newest first with opaque cursors, filters, and is for admins only', async () => {
      const prefix = `page-${Date.now().toString(36)}`;
      for (let i = 0; i < 5; i += 1) await register(`${prefix}-${i}@example.com`);
      const query = `query ($after: String, $prefix: String) {
        users(first: 2, after: $after, filter: { emailPrefix: $prefix, role: USER }) {
          edges { cursor node { email } } pageInfo { hasNextPage endCursor } } }`;
      const seen: string[] = [];
      let after: string | null = null;
      for (let page = 0; page < 3; page += 1) {
        type Page = { users: { edges: { node: { email: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } };
        const result: { data?: Page | null } = await graphql<Page>(auth.url, query, { token: admin.accessToken, variables: { after, prefix } });
        const users = result.data?.users as Page['users'];
        seen.push(...users.edges.map((edge) => edge.node.email));
        expect(users.pageInfo.hasNextPage).toBe(page < 2);
        after = users.pageInfo.endCursor;
      }
      expect(seen).toEqual([4, 3, 2, 1, 0].map((i) => `${prefix}-${i}@example.com`));
      // first: 0 gives no users and says that some follow (it said none did).
      const none = await graphql<{ users: unknown }>(auth.url, query.replace('first: 2', 'first: 0'), { token: admin.accessToken, variables: { prefix } });
      expect(none.data?.users).toEqual({ edges: [], pageInfo: { hasNextPage: true, endCursor: null } });

      const asUser = await graphql(auth.url, '{ users { edges { cursor } } }', { token: alice.accessToken });
      expect(asUser.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const tooMany = await graphql(auth.url, '{ users(first: 201) { edges { cursor } } }', { token: admin.accessToken });
      expect(tooMany.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
      const badCursor = await graphql(auth.url, '{ users(after: "garbage") { edges { cursor } } }', { token: admin.accessToken });
      expect(badCursor.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    });

    it('matches an e-mail prefix literally: % and _ are characters, not wildcards', async () => {
      const stem = `like-${Date.now().toString(36)}`;
      await register(`${stem}-ab@example.com`);
      await register(`${stem}-a_b@example.com`);
      const query = 'query ($prefix: String) { users(first: 10, filter: { emailPrefix: $prefix }) { edges { node { email } } } }';
      const emails = async (prefix: string) =>
        (
          (await graphql<{ users: { edges: { node: { email: string } }[] } }>(auth.url, query, { token: admin.accessToken, variables: { prefix } })).data?.users
            .edges ?? []
        )
          .map((edge) => edge.node.email)
          .sort();
      expect(await emails(`${stem}-a_`)).toEqual([`${stem}-a_b@example.com`]);
      expect(await emails(`${stem}-%`)).toEqual([]);
      expect(await emails(`${stem}-a`)).toEqual([`${stem}-a_b@example.com`, `${stem}-ab@example.com`]);
    });

    it('reads the active admins, and users by role or e-mail prefix, through indexes rather than every user', async () => {
      // An admin's action, asked by admin's service, locks the active admins first.
      await withAdminStandIn({}, async (checked, peer) => {
        const target = await register();
        await peer.client.command('auth', 'suspendUser', { actor: { userId: admin.user.id, requestId: 'r' }, userId: target.user.id, reason: 'x' });
        const page = '{ users(first: 5, filter: { role: ADMIN }) { edges { cursor } } }';
        await graphql(checked.url, page, { token: admin.accessToken });
        const find = (pattern: RegExp) => checked.statements.find((statement) => pattern.test(statement.sql))?.sql as string;
        const lock = find(/role = 'ADMIN' AND status = 'ACTIVE'.*FOR UPDATE/s);
        const list = find(/FROM auth\.users\s+WHERE erased_at IS NULL AND \(\$1/);
        expect(await planOf('auth', lock)).toMatch(/users_admins_idx/);
        expect(await planOf('auth', list, ['ADMIN', null, null, null, null, 6])).toMatch(/users_admins_idx/);
        expect(await planOf('auth', list, [null, null, 'someone-', null, null, 6])).toMatch(/users_email_prefix_idx/);
      });
    });

    it("resolves 100 User references with one SQL statement (after the request's account check)", async () => {
      const created = await sql<{ id: string }>(
        `INSERT INTO auth.users (email) SELECT 'entity-' || g || '-' || $1 || '@example.com' FROM generate_series(1, 100) g RETURNING id`,
        [Date.now().toString(36)],
      );
      const representations = created.map(({ id }) => ({ __typename: 'User', id }));
      auth.statements.length = 0;
      const result = await graphql<{ _entities: { id: string; email: string }[] }>(
        auth.url,
        'query ($representations: [_Any!]!) { _entities(representations: $representations) { ... on User { id email } } }',
        { token: admin.accessToken, variables: { representations } },
      );
      expect(result.errors).toBeUndefined();
      expect(result.data?._entities.map((user) => user.id)).toEqual(created.map((row) => row.id));
      expect(auth.statements).toHaveLength(2);
      expect(auth.statements[0]?.sql).toMatch(/AS session_ended/);
      expect(auth.statements[1]?.sql).toMatch(/FROM auth\.users WHERE id = ANY/);
    });

    it("answers `me`, and the viewer as a reference, from the request's account check: one SQL statement", async () => {
      for (const query of [
        '{ me { id email role } }',
        `{ _entities(representations: [{ __typename: "User", id: "${alice.user.id}" }]) { ... on User { id email role } } }`,
      ]) {
        auth.statements.length = 0;
        const result = await graphql<Record<string, unknown>>(auth.url, query, { token: alice.accessToken });
        expect(result.errors).toBeUndefined();
        expect(JSON.stringify(result.data)).toContain(`{"id":"${alice.user.id}","email":"alice@example.com","role":"USER"}`);
        expect(auth.statements.map((statement) => statement.sql)).toEqual([expect.stringMatching(/AS session_ended/)]);
      }
    });

    it('gives an anonymous caller of _entities no more than an anonymous client gets', async () => {
      const result = await graphql(auth.url, 'query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { email } } }', {
        variables: { r: [{ __typename: 'User', id: alice.user.id }] },
      });
      expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(JSON.stringify(result.data)).not.toContain('alice@');
    });
  });

  describe('what auth tells the other services', () => {
    it('ends a sign-in that a refresh races, whichever comes first: no live session survives logoutEverywhere', async () => {
      for (let round = 0; round < 15; round += 1) {
        const session = await register();
        await Promise.all([
          graphql(auth.url, REFRESH, { variables: { token: session.refreshToken } }),
          graphql(auth.url, 'mutation { logoutEverywhere }', { token: session.accessToken }),
        ]);
        expect(await sql('SELECT id FROM auth.sessions WHERE user_id = $1 AND revoked_at IS NULL', [session.user.id])).toEqual([]);
      }
    });

    it('publishes only the ended sign-ins that may still have a live access token, to every view, however long tokens live now', async () => {
      const fresh = await register();
      const familyOf = async () => String(decodeJwt(((await login(fresh.user.email, PASSWORD)).data?.login as Session).accessToken).sid);
      const [stale, older] = [await familyOf(), await familyOf()];
      // A sign-in whose newest refresh token is two days old has no access token left: none lives over a day.
      await sql(`UPDATE auth.sessions SET created_at = now() - interval '2 days' WHERE family_id = $1`, [stale]);
      // One an hour old may have one issued before ACCESS_TOKEN_TTL_SECONDS (15 minutes here) was lowered: it
      // was left out, and that token went on working at the other services.
      await sql(`UPDATE auth.sessions SET created_at = now() - interval '1 hour' WHERE family_id = $1`, [older]);
      const freshFamily = String(decodeJwt(fresh.accessToken).sid);
      await graphql(auth.url, 'mutation { logoutEverywhere }', { token: fresh.accessToken });
      const events = await sql<{ destination: string; families: string[]; lasts: string }>(
        `SELECT destination, ARRAY(SELECT f FROM jsonb_array_elements_text(payload->'familyIds') AS f ORDER BY f) AS families,
                ((payload->>'expiresAt')::timestamptz - (payload->>'revokedAt')::timestamptz)::text AS lasts
         FROM auth.outbox WHERE topic = 'session.revoked' AND payload->>'userId' = $1 ORDER BY destination`,
        [fresh.user.id],
      );
      const families = [freshFamily, older].sort();
      expect(events).toEqual(['admin', 'payments', 'profile'].map((destination) => ({ destination, families, lasts: '1 day 00:01:00' })));
    });

    it("refuses an admin action asked for an actor who is not an active admin, whatever admin's view said", async () => {
      await withAdminStandIn({}, async (_checked, peer) => {
        const [actor, target] = [await register(), await register()];
        const ask = peer.client.command('auth', 'suspendUser', { actor: { userId: actor.user.id, requestId: 'r' }, userId: target.user.id, reason: 'x' });
        await expect(ask).rejects.toMatchObject({ status: 403, code: 'FORBIDDEN', message: 'This account is no longer an active admin' });
        expect(await sql(`SELECT status::text FROM auth.users WHERE id = $1`, [target.user.id])).toEqual([{ status: 'ACTIVE' }]);
      });
    });
  });

  describe('operations', () => {
    it('labels database timings by schema in /metrics', async () => {
      await graphql(auth.url, LOGIN, { variables: { input: { email: 'alice@example.com', password: 'user-demo-password' } } });
      const metrics = await (await fetch(auth.url.replace('/graphql', '/metrics'))).text();
      expect(metrics).toMatch(/db_query_duration_seconds_count\{[^}]*schema="auth"[^}]*\} [1-9]/);
      expect(metrics).toMatch(/graphql_request_duration_seconds_count\{[^}]*operation="anonymous"/);
      expect(metrics).toMatch(/graphql_errors_total\{[^}]*code="UNAUTHENTICATED"/);
    });

    it('is healthy and ready while the database answers', async () => {
      const base = auth.url.replace('/graphql', '');
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ status: 'ready' });
    });

    it('in production, masks an internal error and logs the real one with the request id', async () => {
      const broken = new URL(ownerUrlFor('auth'));
      broken.username = 'auth_svc';
      broken.password = 'auth_svc_local_only';
      broken.pathname = '/no_such_database_for_this_test';
      const production = await startAuth({
        NODE_ENV: 'production',
        AUTH_DATABASE_URL: broken.toString(),
        JWT_PUBLIC_KEY: JSON.stringify(signing.publicJwk),
        INTERNAL_PRIVATE_KEY: signing.privateKey,
        THROTTLE_KEY_SECRET: 'a production throttle key secret for this test',
        // Called directly here, as only the gateway may be in a deployment.
        REQUIRE_GATEWAY: 'false',
      });
      try {
        const result = await graphql(production.url, REGISTER, {
          variables: { input: { email: freshEmail(), password: PASSWORD } },
          headers: { 'x-request-id': 'req-internal-1' },
        });
        expect(result.errors).toHaveLength(1);
        expect(result.errors?.[0]).toMatchObject({ message: 'Internal server error', path: ['register'], extensions: { code: 'INTERNAL_SERVER_ERROR' } });
        expect(Object.keys(result.errors?.[0]?.extensions ?? {})).toEqual(['code']);
        const logged = production.logs.lines.find((line) => line.level === 'error');
        expect(logged).toMatchObject({ requestId: 'req-internal-1' });
        expect(JSON.stringify(logged)).toMatch(/no_such_database_for_this_test/);
        expect((await fetch(production.url.replace('/graphql', '/readyz'))).status).toBe(503);
      } finally {
        await production.server.stop();
      }
    });
  });
});
