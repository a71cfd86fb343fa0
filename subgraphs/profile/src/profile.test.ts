import { randomUUID } from 'node:crypto';
import type { QueryEvent } from '@fedstack/shared-db';
import { loadServiceConfig, type SubgraphServer } from '@fedstack/service-kit';
import { pollUntil } from '@fedstack/runtime';
import { ISOLATED_PEERS, LogCapture, graphql, heldTransaction, ownerQuery, testTokens, ownerSql as sql } from '@fedstack/service-kit/testing';
import { createProfileServer } from './server';

/** Users as this subgraph knows them: ids, which auth would have issued (nothing here reads auth's data). */
async function newUsers(count: number): Promise<string[]> {
  return Array.from({ length: count }, () => randomUUID());
}

const UPDATE = `mutation ($input: UpdateProfileInput!) { updateMyProfile(input: $input) {
  displayName bio avatarUrl locale timezone updatedAt } }`;
const PROFILE_OF = `query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { id profile { displayName bio avatarUrl locale timezone } } } }`;

/** How many of the profile service's statements wait on a lock now. */
const WAITING_ON_LOCKS = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = 'profile_svc' AND datname = current_database() AND wait_event_type = 'Lock'`;

describe('profile subgraph', () => {
  let server: SubgraphServer<'profile'>;
  let url: string;
  let tokens: Awaited<ReturnType<typeof testTokens>>;
  const statements: QueryEvent[] = [];

  beforeAll(async () => {
    tokens = await testTokens();
    const config = loadServiceConfig('profile', { ...process.env, ...tokens.env, ...ISOLATED_PEERS, PROFILE_PORT: '0', LOG_LEVEL: 'silent' });
    server = await createProfileServer({ config, onQuery: (event) => statements.push(event) });
    url = `${await server.listen()}/graphql`;
  });
  afterAll(() => server.stop());

  it('gives a user who never saved a profile an empty one, not an error', async () => {
    const [userId] = (await newUsers(1)) as [string];
    const result = await graphql(url, PROFILE_OF, {
      token: await tokens.mint({ userId }),
      variables: { r: [{ __typename: 'User', id: userId }] },
    });
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      _entities: [{ id: userId, profile: { displayName: null, bio: null, avatarUrl: null, locale: null, timezone: null } }],
    });
  });

  it('sets, keeps and clears fields, normalising what it stores', async () => {
    const [userId] = (await newUsers(1)) as [string];
    const token = await tokens.mint({ userId });
    const first = await graphql<{ updateMyProfile: Record<string, unknown> }>(url, UPDATE, {
      token,
      variables: {
        input: { displayName: '  Ada  ', bio: 'Counts things.', avatarUrl: 'https://example.com/a.png', locale: 'en-gb', timezone: 'Europe/London' },
      },
    });
    expect(first.errors).toBeUndefined();
    expect(first.data?.updateMyProfile).toMatchObject({
      displayName: 'Ada',
      locale: 'en-GB',
      timezone: 'Europe/London',
      avatarUrl: 'https://example.com/a.png',
    });

    const second = await graphql<{ updateMyProfile: Record<string, unknown> }>(url, UPDATE, { token, variables: { input: { bio: null } } });
    expect(second.data?.updateMyProfile).toMatchObject({ displayName: 'Ada', bio: null, locale: 'en-GB' });
  });

  it('takes every IANA time zone name, current or older (ICU listed the older only), and a URL up to its 2048 characters', async () => {
    const [userId] = (await newUsers(1)) as [string];
    const token = await tokens.mint({ userId });
    for (const timezone of ['Asia/Kolkata', 'Europe/Kyiv', 'America/Nuuk', 'Asia/Calcutta', 'Etc/GMT+5', 'UTC']) {
      const answer = await graphql<{ updateMyProfile: { timezone: string } }>(url, UPDATE, { token, variables: { input: { timezone } } });
      expect({ timezone, errors: answer.errors, stored: answer.data?.updateMyProfile.timezone }).toEqual({ timezone, errors: undefined, stored: timezone });
    }
    // Written as IANA writes it, whatever case it came in (Intl takes any; Java's ZoneId, for one, does not).
    for (const [timezone, stored] of [
      ['europe/PARIS', 'Europe/Paris'],
      ['utc', 'UTC'],
      ['etc/gmt+5', 'Etc/GMT+5'],
    ]) {
      const answer = await graphql<{ updateMyProfile: { timezone: string } }>(url, UPDATE, { token, variables: { input: { timezone } } });
      expect({ timezone, stored: answer.data?.updateMyProfile.timezone }).toEqual({ timezone, stored });
    }
    const avatarUrl = `https://cdn.example.com/${'a'.repeat(1500)}.png`;
    const answer = await graphql<{ updateMyProfile: { avatarUrl: string } }>(url, UPDATE, { token, variables: { input: { avatarUrl } } });
    expect({ errors: answer.errors, stored: answer.data?.updateMyProfile.avatarUrl }).toEqual({ errors: undefined, stored: avatarUrl });
  });

  it.each([
    ['displayName', '', /1 to 80/],
    ['displayName', 'x'.repeat(81), /1 to 80/],
    ['bio', 'y'.repeat(501), /0 to 500/],
    ['avatarUrl', 'javascript:alert(1)', /http or https/],
    ['avatarUrl', 'not a url', /absolute http\(s\) URL/],
    ['locale', 'not_a_locale!', /BCP 47/],
    ['timezone', 'Mars/Olympus_Mons', /IANA time zone/],
    ['timezone', '+05:30', /IANA time zone/],
    // 994 characters sent, 8,754 stored once escaped.
    ['avatarUrl', `https://cdn.example.com/${'漢'.repeat(970)}`, /at most 2048 characters, as stored/],
  ])('refuses an invalid %s with BAD_USER_INPUT naming it, changing nothing', async (field, value, message) => {
    const [userId] = (await newUsers(1)) as [string];
    const token = await tokens.mint({ userId });
    await graphql(url, UPDATE, { token, variables: { input: { displayName: 'Before', bio: 'Before' } } });
    const before = await sql('SELECT display_name, bio, avatar_url, locale, timezone, updated_at FROM profile.profiles WHERE user_id = $1', [userId]);
    const result = await graphql(url, UPDATE, { token, variables: { input: { displayName: 'After', [field]: value } } });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: `input.${field}` });
    expect(result.errors?.[0]?.message).toMatch(message);
    expect(await sql('SELECT display_name, bio, avatar_url, locale, timezone, updated_at FROM profile.profiles WHERE user_id = $1', [userId])).toEqual(before);
  });

  it('refuses anonymous updates, and shows a profile only to its user and to admins', async () => {
    const [owner, stranger] = (await newUsers(2)) as [string, string];
    expect((await graphql(url, UPDATE, { variables: { input: { bio: 'x' } } })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const representations = { r: [{ __typename: 'User', id: owner }] };
    const asStranger = await graphql(url, PROFILE_OF, { token: await tokens.mint({ userId: stranger }), variables: representations });
    expect(asStranger.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const asAdmin = await graphql(url, PROFILE_OF, { token: await tokens.mint({ userId: stranger, role: 'ADMIN' }), variables: representations });
    expect(asAdmin.errors).toBeUndefined();
    const anonymous = await graphql(url, PROFILE_OF, { variables: representations });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('loads the profiles of 100 users with one SQL statement (after the account check)', async () => {
    const ids = await newUsers(100);
    await sql(`INSERT INTO profile.profiles (user_id, display_name) SELECT id, 'P ' || id FROM unnest($1::uuid[]) id`, [ids.slice(0, 60)]);
    statements.length = 0;
    const result = await graphql<{ _entities: { id: string; profile: { displayName: string | null } }[] }>(url, PROFILE_OF, {
      token: await tokens.mint({ userId: ids[0] as string, role: 'ADMIN' }),
      variables: { r: ids.map((id) => ({ __typename: 'User', id })) },
    });
    expect(result.errors).toBeUndefined();
    expect(result.data?._entities.map((user) => user.profile.displayName)).toEqual(ids.map((id, index) => (index < 60 ? `P ${id}` : null)));
    // One for the whole batch, after the request's account check.
    expect(statements.map((statement) => statement.sql)).toEqual([expect.stringMatching(/account_states/), expect.stringMatching(/FROM profile\.profiles/)]);
  });

  it("answers the viewer's own profile from the request's account check: one SQL statement, with or without a profile saved", async () => {
    const [saved, never] = (await newUsers(2)) as [string, string];
    await sql(`INSERT INTO profile.profiles (user_id, display_name, locale) VALUES ($1, 'Viewer', 'en-GB')`, [saved]);
    for (const [userId, profile] of [
      [saved, { displayName: 'Viewer', bio: null, avatarUrl: null, locale: 'en-GB', timezone: null }],
      [never, { displayName: null, bio: null, avatarUrl: null, locale: null, timezone: null }],
    ] as const) {
      statements.length = 0;
      const result = await graphql(url, PROFILE_OF, { token: await tokens.mint({ userId }), variables: { r: [{ __typename: 'User', id: userId }] } });
      expect(result.errors).toBeUndefined();
      expect(result.data).toEqual({ _entities: [{ id: userId, profile }] });
      expect(statements.map((statement) => statement.sql)).toEqual([expect.stringMatching(/account_states/)]);
    }
  });

  it('stops gracefully: a request in flight still gets its answer, new connections are refused', async () => {
    const config = loadServiceConfig('profile', { ...process.env, ...tokens.env, ...ISOLATED_PEERS, PROFILE_PORT: '0', LOG_LEVEL: 'silent' });
    // The request is in flight once the server runs its first statement for it (the account check).
    let arrived!: () => void;
    const inServer = new Promise<void>((resolve) => (arrived = resolve));
    const stopping = await createProfileServer({ config, onQuery: () => arrived() });
    const stoppingUrl = `${await stopping.listen()}/graphql`;
    const [userId] = (await newUsers(1)) as [string];
    const inFlight = graphql(stoppingUrl, UPDATE, { token: await tokens.mint({ userId }), variables: { input: { displayName: 'Drained' } } });
    await inServer;
    await stopping.stop();
    expect((await inFlight).data).toMatchObject({ updateMyProfile: { displayName: 'Drained' } });
    await expect(fetch(stoppingUrl.replace('/graphql', '/healthz'))).rejects.toThrow();
  });

  it('writes nothing for a user it has erased, even when the token got past the account check', async () => {
    // Erased here, while admin's news of it has not reached this service's view of accounts yet.
    const [userId] = (await newUsers(1)) as [string];
    await sql(`INSERT INTO profile.erasures (user_id, erased_at, changes) VALUES ($1, now(), '[]')`, [userId]);
    const result = await graphql(url, UPDATE, { token: await tokens.mint({ userId }), variables: { input: { displayName: 'Back from the dead' } } });
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(await sql('SELECT 1 FROM profile.profiles WHERE user_id = $1', [userId])).toEqual([]);
  });

  it("logs and counts a request whose account cannot be read (its database refuses the connection), with the database's own error", async () => {
    const logs = new LogCapture();
    const config = loadServiceConfig('profile', {
      ...process.env,
      ...tokens.env,
      ...ISOLATED_PEERS,
      PROFILE_PORT: '0',
      LOG_LEVEL: 'info',
      // Nothing listens on port 9: the connection is refused.
      PROFILE_DATABASE_URL: 'postgresql://profile_svc:unused@127.0.0.1:9/fedstack',
    });
    const cutOff = await createProfileServer({ config, logDestination: { write: (chunk: string) => logs.write(chunk) } });
    try {
      const cutOffUrl = `${await cutOff.listen()}/graphql`;
      // With its operation's name, as the gateway sends one.
      const answer = await fetch(cutOffUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${await tokens.mint({ userId: randomUUID() })}`,
          'x-request-id': 'no-database-1',
        },
        body: JSON.stringify({ query: 'mutation Rename { updateMyProfile(input: { displayName: "Ada" }) { displayName } }', operationName: 'Rename' }),
      });
      const { errors } = (await answer.json()) as { errors: { extensions: { code: string } }[] };
      expect({ status: answer.status, code: errors[0]?.extensions.code }).toEqual({ status: 503, code: 'SUBGRAPH_UNAVAILABLE' });
      const line = await logs.waitFor((logged) => logged.requestId === 'no-database-1');
      expect(line).toMatchObject({
        level: 'error',
        operationName: 'Rename',
        code: 'SUBGRAPH_UNAVAILABLE',
        err: { message: expect.stringContaining('ECONNREFUSED') },
      });
      const metrics = await (await fetch(cutOffUrl.replace('/graphql', '/metrics'))).text();
      expect(metrics).toMatch(/^graphql_errors_total\{code="SUBGRAPH_UNAVAILABLE",service="profile"\} 1$/m);
      expect(metrics).toMatch(/^graphql_requests_total\{operation="Rename",outcome="failed",service="profile"\} 1$/m);
    } finally {
      await cutOff.stop();
    }
  });

  it('stays ready while every connection of its pool waits on a locked row: readiness asks whether the database answers', async () => {
    const config = loadServiceConfig('profile', {
      ...process.env,
      ...tokens.env,
      ...ISOLATED_PEERS,
      PROFILE_PORT: '0',
      LOG_LEVEL: 'silent',
      DB_POOL_SIZE: '1',
    });
    const busy = await createProfileServer({ config });
    try {
      const busyUrl = `${await busy.listen()}/graphql`;
      const [userId] = (await newUsers(1)) as [string];
      const token = await tokens.mint({ userId });
      expect((await graphql(busyUrl, UPDATE, { token, variables: { input: { bio: 'first' } } })).errors).toBeUndefined();
      const lock = await heldTransaction('profile', 'SELECT 1 FROM profile.profiles WHERE user_id = $1::uuid FOR UPDATE', [userId]);
      let saved: ReturnType<typeof graphql> | undefined;
      try {
        // Its one pooled connection waits on the lock with this save.
        saved = graphql(busyUrl, UPDATE, { token, variables: { input: { bio: 'second' } } });
        await pollUntil('the save waiting on the lock', async () => (await ownerQuery<{ n: number }>('profile', WAITING_ON_LOCKS))[0]?.n === 1, {
          timeoutMs: 5000,
          intervalMs: 50,
        });
        const ready = await fetch(busyUrl.replace('/graphql', '/readyz'));
        expect({ status: ready.status, body: await ready.json() }).toEqual({ status: 200, body: { status: 'ready' } });
      } finally {
        await lock.release();
      }
      expect((await saved).errors).toBeUndefined();
    } finally {
      await busy.stop();
    }
  });

  it('answers SUBGRAPH_UNAVAILABLE, not an internal error, for a save whose statement the server cancelled (a timeout, an operator)', async () => {
    const [userId] = (await newUsers(1)) as [string];
    const token = await tokens.mint({ userId });
    expect((await graphql(url, UPDATE, { token, variables: { input: { bio: 'first' } } })).errors).toBeUndefined();
    const lock = await heldTransaction('profile', 'SELECT 1 FROM profile.profiles WHERE user_id = $1::uuid FOR UPDATE', [userId]);
    try {
      const saved = graphql(url, UPDATE, { token, variables: { input: { bio: 'second' } } });
      await pollUntil('the save waiting on the lock', async () => (await ownerQuery<{ n: number }>('profile', WAITING_ON_LOCKS))[0]?.n === 1, {
        timeoutMs: 5000,
        intervalMs: 50,
      });
      await ownerQuery('profile', WAITING_ON_LOCKS.replace('count(*)::int AS n', 'pg_cancel_backend(pid)'));
      expect((await saved).errors?.map((error) => error.extensions?.code)).toEqual(['SUBGRAPH_UNAVAILABLE']);
    } finally {
      await lock.release();
    }
  });

  it('labels its database timings schema="profile" in /metrics', async () => {
    const metrics = await (await fetch(url.replace('/graphql', '/metrics'))).text();
    expect(metrics).toMatch(/db_query_duration_seconds_count\{[^}]*schema="profile"[^}]*\} [1-9]/);
  });

  it("exports PostgreSQL's own figures for its schema and role, and its pool's, in /metrics", async () => {
    const [{ n } = { n: 0 }] = await sql<{ n: number }>('SELECT count(*)::int AS n FROM profile.profiles');
    const metrics = await (await fetch(url.replace('/graphql', '/metrics'))).text();
    const value = (pattern: RegExp) => Number(pattern.exec(metrics)?.[1] ?? Number.NaN);
    expect(value(/^pg_table_size_bytes\{schema="profile",table="profiles"[^}]*\} (\d+)/m)).toBeGreaterThan(0);
    expect(value(/^pg_table_rows_inserted\{schema="profile",table="profiles"[^}]*\} (\d+)/m)).toBeGreaterThanOrEqual(n > 0 ? 1 : 0);
    expect(metrics).toMatch(/^pg_table_live_rows\{schema="profile",table="profiles"/m);
    // Only its own schema: no other service's table appears.
    expect(metrics).not.toMatch(/^pg_table_\w+\{schema="(?!profile")/m);
    expect(metrics).not.toMatch(/table="(users|payments|audit_entries)"/);
    expect(value(/^pg_connections\{schema="profile",role="profile_svc",state="(?:active|idle)"[^}]*\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/^db_pool_connections\{schema="profile",state="idle"[^}]*\} \d+/m);
    expect(value(/^db_pool_waiting\{schema="profile"[^}]*\} (\d+)/m)).toBe(0);
  });
});
