import { createServiceClient, crossServiceTransaction } from '@fedstack/shared-db';
import { loadServiceConfig, type SubgraphServer } from '@fedstack/service-kit';
import { graphql, testTokens, ownerSql as sql } from '@fedstack/service-kit/testing';
import { createAuthServer, loadAuthConfig } from '@fedstack/auth';
import { createAdminServer } from './server';
import { assertAnActiveAdminRemains } from './domain/users';

const PASSWORD = 'a perfectly long password';
let seq = 0;
const uniqueEmail = () => `admin-test-${Date.now().toString(36)}-${(seq += 1)}@example.com`;

describe('admin subgraph', () => {
  let admin: SubgraphServer<'admin'>;
  let auth: SubgraphServer<'auth'>;
  let adminUrl: string;
  let authUrl: string;
  let tokens: Awaited<ReturnType<typeof testTokens>>;
  let actorId: string;
  let actorToken: string;

  beforeAll(async () => {
    tokens = await testTokens();
    const env = { ...process.env, ...tokens.env, LOG_LEVEL: 'silent', ADMIN_PORT: '0', AUTH_PORT: '0' };
    admin = await createAdminServer({ config: loadServiceConfig('admin', env) });
    auth = await createAuthServer({ config: loadAuthConfig(env) });
    adminUrl = `${await admin.listen()}/graphql`;
    authUrl = `${await auth.listen()}/graphql`;
    [{ id: actorId }] = (await sql<{ id: string }>(`INSERT INTO auth.users (email, role) VALUES ($1, 'ADMIN') RETURNING id`, [uniqueEmail()])) as [
      { id: string },
    ];
    actorToken = await tokens.mint({ userId: actorId, role: 'ADMIN' });
  });
  afterAll(async () => {
    await admin.stop();
    await auth.stop();
  });

  /** A user registered through auth, so that they have a password, a session and a refresh token. */
  async function registeredUser(): Promise<{ id: string; email: string; refreshToken: string; accessToken: string }> {
    const email = uniqueEmail();
    const result = await graphql<{ register: { refreshToken: string; accessToken: string; user: { id: string } } }>(
      authUrl,
      'mutation ($input: RegisterInput!) { register(input: $input) { refreshToken accessToken user { id } } }',
      { variables: { input: { email, password: PASSWORD } } },
    );
    const register = result.data?.register as { refreshToken: string; accessToken: string; user: { id: string } };
    return { id: register.user.id, email, refreshToken: register.refreshToken, accessToken: register.accessToken };
  }

  const SUSPEND = 'mutation ($id: ID!, $reason: String!) { suspendUser(userId: $id, reason: $reason) { id } }';
  const REFRESH = 'mutation ($t: String!) { refreshSession(refreshToken: $t) { accessToken } }';
  const LOGIN = 'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }';

  describe('the admin-only guard', () => {
    const operations: [string, string][] = [
      ['auditLog', '{ auditLog { edges { cursor } } }'],
      ['adminStats', '{ adminStats { signupsLast24Hours } }'],
      ['suspendUser', 'mutation { suspendUser(userId: "00000000-0000-4000-8000-000000000001", reason: "x") { id } }'],
      ['reinstateUser', 'mutation { reinstateUser(userId: "00000000-0000-4000-8000-000000000001") { id } }'],
      ['setUserRole', 'mutation { setUserRole(userId: "00000000-0000-4000-8000-000000000001", role: ADMIN) { id } }'],
      ['eraseUser', 'mutation { eraseUser(userId: "00000000-0000-4000-8000-000000000001") { userId } }'],
      ['User.auditTrail', '{ _entities(representations: [{ __typename: "User", id: "00000000-0000-4000-8000-000000000001" }]) { ... on User { auditTrail { edges { cursor } } } } }'],
    ];

    it.each(operations)('refuses %s to anonymous callers (UNAUTHENTICATED) and to users (FORBIDDEN)', async (_name, query) => {
      const anonymous = await graphql(adminUrl, query);
      expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      const [{ id }] = (await sql<{ id: string }>('INSERT INTO auth.users (email) VALUES ($1) RETURNING id', [uniqueEmail()])) as [{ id: string }];
      const asUser = await graphql(adminUrl, query, { token: await tokens.mint({ userId: id }) });
      expect(asUser.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    });

    it('refuses an admin token whose user the database no longer holds as an active admin', async () => {
      const [{ id }] = (await sql<{ id: string }>(`INSERT INTO auth.users (email, role) VALUES ($1, 'USER') RETURNING id`, [uniqueEmail()])) as [
        { id: string },
      ];
      const stale = await graphql(adminUrl, '{ adminStats { signupsLast24Hours } }', { token: await tokens.mint({ userId: id, role: 'ADMIN' }) });
      expect(stale.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    });
  });

  describe('suspendUser', () => {
    it('suspends in one transaction: refresh stops working, login is refused, one audit entry with the request id', async () => {
      const user = await registeredUser();
      const result = await graphql(adminUrl, SUSPEND, {
        token: actorToken,
        variables: { id: user.id, reason: 'chargeback fraud' },
        headers: { 'x-request-id': `suspend-${user.id}` },
      });
      expect(result.errors).toBeUndefined();
      expect((await graphql(authUrl, REFRESH, { variables: { t: user.refreshToken } })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect((await graphql(authUrl, LOGIN, { variables: { input: { email: user.email, password: PASSWORD } } })).errors?.[0]?.extensions?.code).toBe(
        'FORBIDDEN',
      );
      const entries = await sql<{ action: string; actor_id: string; request_id: string; payload: Record<string, unknown> }>(
        'SELECT action, actor_id, request_id, payload FROM admin.audit_entries WHERE target_id = $1',
        [user.id],
      );
      expect(entries).toEqual([
        {
          action: 'user.suspend',
          actor_id: actorId,
          request_id: `suspend-${user.id}`,
          payload: { reason: 'chargeback fraud', before: { status: 'ACTIVE' }, after: { status: 'SUSPENDED' }, sessionsRevoked: 1 },
        },
      ]);
    });

    it('rolls everything back when a fault strikes after the status update', async () => {
      const user = await registeredUser();
      const marker = `inject-fault-${user.id}`;
      // The fault: the audit insert, which comes after the status update and the session revocation, fails.
      await sql(`CREATE FUNCTION admin.fail_for_test() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN RAISE EXCEPTION 'injected fault'; END $$`).catch(() => undefined);
      await sql(`CREATE TRIGGER "fault_${user.id}" BEFORE INSERT ON admin.audit_entries FOR EACH ROW
                 WHEN (NEW.payload->>'reason' = '${marker}') EXECUTE FUNCTION admin.fail_for_test()`);
      try {
        const result = await graphql(adminUrl, SUSPEND, { token: actorToken, variables: { id: user.id, reason: marker } });
        expect(result.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      } finally {
        await sql(`DROP TRIGGER "fault_${user.id}" ON admin.audit_entries`);
      }
      const [state] = await sql<{ status: string; open_sessions: number; audits: number }>(
        `SELECT status::text,
                (SELECT count(*)::int FROM auth.sessions WHERE user_id = u.id AND revoked_at IS NULL) AS open_sessions,
                (SELECT count(*)::int FROM admin.audit_entries WHERE target_id = u.id::text) AS audits
         FROM auth.users u WHERE id = $1`,
        [user.id],
      );
      expect(state).toEqual({ status: 'ACTIVE', open_sessions: 1, audits: 0 });
      expect((await graphql(authUrl, REFRESH, { variables: { t: user.refreshToken } })).errors).toBeUndefined();
    });

    it('refuses to let an admin suspend, demote or erase themself', async () => {
      for (const query of [
        SUSPEND,
        'mutation ($id: ID!) { setUserRole(userId: $id, role: USER) { id } }',
        'mutation ($id: ID!) { eraseUser(userId: $id) { userId } }',
      ]) {
        for (const id of [actorId, actorId.toUpperCase()]) {
          const result = await graphql(adminUrl, query, { token: actorToken, variables: { id, reason: 'x' } });
          expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'userId' });
        }
      }
    });

    it('never lets the last active admin go, even when it is decided inside a transaction', async () => {
      const db = createServiceClient('admin', { poolSize: 1 });
      const rolledBack = new Error('roll back the test transaction');
      try {
        await expect(
          crossServiceTransaction(db, async (tx) => {
            await tx.$executeRaw`UPDATE auth.users SET status = 'SUSPENDED' WHERE role = 'ADMIN' AND id <> ${actorId}::uuid`;
            await expect(assertAnActiveAdminRemains(tx, actorId)).rejects.toMatchObject({ extensions: { code: 'CONFLICT' } });
            throw rolledBack;
          }),
        ).rejects.toBe(rolledBack);
      } finally {
        await db.$disconnect();
      }
    });

    it('reinstates and changes roles, each with an audit entry', async () => {
      const user = await registeredUser();
      await graphql(adminUrl, SUSPEND, { token: actorToken, variables: { id: user.id, reason: 'check' } });
      await graphql(adminUrl, 'mutation ($id: ID!) { reinstateUser(userId: $id) { id } }', { token: actorToken, variables: { id: user.id } });
      await graphql(adminUrl, 'mutation ($id: ID!) { setUserRole(userId: $id, role: ADMIN) { id } }', { token: actorToken, variables: { id: user.id } });
      const rows = await sql<{ status: string; role: string }>('SELECT status::text, role::text FROM auth.users WHERE id = $1', [user.id]);
      expect(rows).toEqual([{ status: 'ACTIVE', role: 'ADMIN' }]);
      const trail = await graphql<{ _entities: { auditTrail: { edges: { node: { action: string; actor: { id: string } } }[] } }[] }>(
        adminUrl,
        'query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { auditTrail { edges { node { action actor { id } } } } } } }',
        { token: actorToken, variables: { r: [{ __typename: 'User', id: user.id }] } },
      );
      expect(trail.data?._entities[0]?.auditTrail.edges.map((edge) => edge.node.action)).toEqual(['user.role_change', 'user.reinstate', 'user.suspend']);
      expect(trail.data?._entities[0]?.auditTrail.edges[0]?.node.actor).toEqual({ id: actorId });
    });
  });

  describe('eraseUser', () => {
    it('leaves no personal data in any schema, keeps payment sums, and reports what it did; a second call is harmless', async () => {
      const user = await registeredUser();
      await sql(`INSERT INTO profile.profiles (user_id, display_name, bio) VALUES ($1, 'Erin Erasable', 'Lives at 1 Main St')`, [user.id]);
      await sql(
        `INSERT INTO payments.payments (user_id, amount, currency, status, description, method_last4)
         VALUES ($1, 10.50, 'EUR', 'SUCCEEDED', 'Gift for my sister', '4242'), ($1, 3000, 'JPY', 'SUCCEEDED', 'Books', '1881')`,
        [user.id],
      );
      await sql(`INSERT INTO payments.idempotency_records (user_id, operation, key, request_hash) VALUES ($1, 'createPayment', 'k', 'h')`, [user.id]);
      await sql(`INSERT INTO auth.login_throttles (key, failures) VALUES ($1, 2)`, [`account:${user.email}`]);
      const totals = `SELECT currency, sum(amount)::text AS total FROM payments.payments GROUP BY currency ORDER BY currency`;
      const before = await sql(totals);

      const ERASE = `mutation ($id: ID!) { eraseUser(userId: $id) { userId alreadyErased erasedAt changes { schema table action rows } } }`;
      const result = await graphql<{ eraseUser: { alreadyErased: boolean; changes: unknown[] } }>(adminUrl, ERASE, {
        token: actorToken,
        variables: { id: user.id },
      });
      expect(result.errors).toBeUndefined();
      expect(result.data?.eraseUser.alreadyErased).toBe(false);
      expect(result.data?.eraseUser.changes).toEqual([
        { schema: 'auth', table: 'password_credentials', action: 'deleted', rows: 1 },
        { schema: 'auth', table: 'sessions', action: 'deleted', rows: 1 },
        { schema: 'auth', table: 'login_throttles', action: 'deleted', rows: 1 },
        { schema: 'auth', table: 'users', action: 'tombstoned', rows: 1 },
        { schema: 'profile', table: 'profiles', action: 'deleted', rows: 1 },
        { schema: 'payments', table: 'payments', action: 'anonymised', rows: 2 },
        { schema: 'payments', table: 'idempotency_records', action: 'deleted', rows: 1 },
      ]);

      // Each schema, checked for anything that still names or describes the person.
      const [authLeft] = await sql<Record<string, number>>(
        `SELECT (SELECT count(*)::int FROM auth.users WHERE email = $2) AS emails,
                (SELECT count(*)::int FROM auth.password_credentials WHERE user_id = $1) AS credentials,
                (SELECT count(*)::int FROM auth.sessions WHERE user_id = $1) AS sessions,
                (SELECT count(*)::int FROM auth.login_throttles WHERE key LIKE '%' || $2 || '%') AS throttles`,
        [user.id, user.email],
      );
      expect(authLeft).toEqual({ emails: 0, credentials: 0, sessions: 0, throttles: 0 });
      expect(await sql('SELECT 1 FROM profile.profiles WHERE user_id = $1', [user.id])).toHaveLength(0);
      expect(await sql('SELECT description, method_last4 FROM payments.payments WHERE user_id = $1', [user.id])).toEqual([
        { description: null, method_last4: null },
        { description: null, method_last4: null },
      ]);
      expect(await sql('SELECT 1 FROM payments.idempotency_records WHERE user_id = $1', [user.id])).toHaveLength(0);
      expect(await sql(`SELECT 1 FROM admin.audit_entries WHERE payload::text ILIKE '%' || $1 || '%'`, [user.email])).toHaveLength(0);
      expect(await sql(totals)).toEqual(before);

      const again = await graphql<{ eraseUser: { alreadyErased: boolean; changes: unknown[] } }>(adminUrl, ERASE, {
        token: actorToken,
        variables: { id: user.id },
      });
      expect(again.data?.eraseUser).toMatchObject({ alreadyErased: true, changes: [] });
      expect(await sql(`SELECT 1 FROM admin.audit_entries WHERE target_id = $1 AND action = 'user.erase'`, [user.id])).toHaveLength(1);
    });
  });

  describe('auditLog and adminStats', () => {
    it('filters the audit log by actor, action, target and time, newest first, with cursors', async () => {
      const user = await registeredUser();
      const started = new Date(Date.now() - 1000).toISOString();
      await graphql(adminUrl, SUSPEND, { token: actorToken, variables: { id: user.id, reason: 'one' } });
      await graphql(adminUrl, 'mutation ($id: ID!) { reinstateUser(userId: $id) { id } }', { token: actorToken, variables: { id: user.id } });
      const query = `query ($filter: AuditFilter, $after: String) { auditLog(first: 1, after: $after, filter: $filter) {
        edges { node { action targetId actor { id } } } pageInfo { hasNextPage endCursor } } }`;
      type Log = { auditLog: { edges: { node: { action: string; targetId: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } };
      const filter = { actorId, targetId: user.id, from: started };
      const first = await graphql<Log>(adminUrl, query, { token: actorToken, variables: { filter } });
      expect(first.data?.auditLog.edges.map((edge) => edge.node.action)).toEqual(['user.reinstate']);
      expect(first.data?.auditLog.pageInfo.hasNextPage).toBe(true);
      const second = await graphql<Log>(adminUrl, query, { token: actorToken, variables: { filter, after: first.data?.auditLog.pageInfo.endCursor } });
      expect(second.data?.auditLog.edges.map((edge) => edge.node.action)).toEqual(['user.suspend']);
      expect(second.data?.auditLog.pageInfo.hasNextPage).toBe(false);
      const byAction = await graphql<Log>(adminUrl, query, { token: actorToken, variables: { filter: { ...filter, action: 'user.suspend' } } });
      expect(byAction.data?.auditLog.edges.map((edge) => edge.node.targetId)).toEqual([user.id]);
    });

    it('computes statistics in SQL that agree with the tables', async () => {
      const [{ id: payer }] = (await sql<{ id: string }>('INSERT INTO auth.users (email) VALUES ($1) RETURNING id', [uniqueEmail()])) as [{ id: string }];
      // No other test pays in CHF, so these rows are the whole CHF volume.
      await sql(
        `INSERT INTO payments.payments (user_id, amount, currency, status) VALUES
           ($1, 10.00, 'CHF', 'SUCCEEDED'), ($1, 5.05, 'CHF', 'SUCCEEDED'), ($1, 1.00, 'CHF', 'FAILED')`,
        [payer],
      );
      const stats = await graphql<{
        adminStats: {
          usersByRole: { role: string; count: number }[];
          usersByStatus: { status: string; count: number }[];
          signupsLast24Hours: number;
          signupsLast30Days: number;
          paymentVolume: { currency: string; status: string; count: number; amount: string }[];
        };
      }>(
        adminUrl,
        `{ adminStats { usersByRole { role count } usersByStatus { status count } signupsLast24Hours signupsLast30Days
           paymentVolume { currency status count amount } } }`,
        { token: actorToken },
      );
      expect(stats.errors).toBeUndefined();
      const result = stats.data?.adminStats;
      const total = (counts: { count: number }[] = []) => counts.reduce((sum, entry) => sum + entry.count, 0);
      expect(total(result?.usersByRole)).toBe(total(result?.usersByStatus));
      expect(result?.usersByRole.find((entry) => entry.role === 'ADMIN')?.count).toBeGreaterThanOrEqual(2);
      expect(result?.signupsLast24Hours).toBeGreaterThanOrEqual(1);
      expect(result?.signupsLast30Days).toBeGreaterThanOrEqual(result?.signupsLast24Hours ?? 0);
      expect(result?.paymentVolume.filter((volume) => volume.currency === 'CHF')).toEqual([
        { currency: 'CHF', status: 'SUCCEEDED', count: 2, amount: '15.05' },
        { currency: 'CHF', status: 'FAILED', count: 1, amount: '1.00' },
      ]);
      expect(result?.paymentVolume.find((volume) => volume.currency === 'KWD')?.amount).toMatch(/^\d+\.\d{3}$/);
    });
  });
});
