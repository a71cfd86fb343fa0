import { randomUUID } from 'node:crypto';
import { freePort, pollUntil } from '@fedstack/runtime';
import { type InternalClient, type SubgraphServer } from '@fedstack/service-kit';
import { fakePeer, graphql, testTokens, ownerSql as sql } from '@fedstack/service-kit/testing';
import { loadAdminConfig } from './config';
import { createAdminServer } from './server';

/**
 * The admin subgraph on its own: its guard, its audit trail and the events through which the other
 * services add to that trail, sent here by stand-ins for those services (each with a key of its own).
 * What admin asks of other services (suspension, erasure) is tested through the gateway with every
 * service running (test/admin.test.ts).
 */
describe('admin subgraph', () => {
  let admin: SubgraphServer<'admin'>;
  let adminUrl: string;
  let tokens: Awaited<ReturnType<typeof testTokens>>;
  const actorId = randomUUID();
  let actorToken: string;
  /** Stand-ins for the services that send admin audit entries, where admin looks for their keys. */
  const peers: Partial<Record<'auth' | 'payments' | 'profile', Awaited<ReturnType<typeof fakePeer>>>> = {};
  const as = (service: 'auth' | 'payments' | 'profile'): InternalClient => (peers[service] as Awaited<ReturnType<typeof fakePeer>>).client;

  beforeAll(async () => {
    tokens = await testTokens();
    const adminPort = String(await freePort());
    const adminOrigin = `http://127.0.0.1:${adminPort}`;
    for (const service of ['auth', 'payments', 'profile'] as const) peers[service] = await fakePeer(service, { admin: adminOrigin });
    const env = {
      ...process.env,
      ...tokens.env,
      LOG_LEVEL: 'silent',
      ADMIN_PORT: adminPort,
      AUTH_SUBGRAPH_URL: `${peers.auth?.url}/graphql`,
      PAYMENTS_SUBGRAPH_URL: `${peers.payments?.url}/graphql`,
      PROFILE_SUBGRAPH_URL: `${peers.profile?.url}/graphql`,
    };
    admin = await createAdminServer({ config: loadAdminConfig(env) });
    adminUrl = `${await admin.listen()}/graphql`;
    actorToken = await tokens.mint({ userId: actorId, role: 'ADMIN' });
  });
  afterAll(async () => {
    await admin.stop();
    await Promise.all(Object.values(peers).map((peer) => peer.close()));
  });

  /** An audit entry as auth (or payments) sends it through its outbox. */
  const entry = (overrides: Record<string, unknown> = {}) => ({
    id: randomUUID(),
    actorId,
    action: 'user.suspend',
    targetType: 'User',
    targetId: randomUUID(),
    payload: { before: { status: 'ACTIVE' }, after: { status: 'SUSPENDED' } },
    requestId: 'req-1',
    createdAt: new Date().toISOString(),
    ...overrides,
  });
  const deliver = (client: InternalClient, record: ReturnType<typeof entry>, topic = 'audit.record') =>
    client.deliver('admin', { eventId: record.id, topic, payload: record, createdAt: new Date(record.createdAt) });

  describe('the admin-only guard', () => {
    const operations: [string, string][] = [
      ['auditLog', '{ auditLog { edges { cursor } } }'],
      ['adminStats', '{ adminStats { __typename } }'],
      ['suspendUser', 'mutation { suspendUser(userId: "00000000-0000-4000-8000-000000000001", reason: "x") { id } }'],
      ['reinstateUser', 'mutation { reinstateUser(userId: "00000000-0000-4000-8000-000000000001") { id } }'],
      ['setUserRole', 'mutation { setUserRole(userId: "00000000-0000-4000-8000-000000000001", role: ADMIN) { id } }'],
      ['eraseUser', 'mutation { eraseUser(userId: "00000000-0000-4000-8000-000000000001") { userId } }'],
      [
        'User.auditTrail',
        '{ _entities(representations: [{ __typename: "User", id: "00000000-0000-4000-8000-000000000001" }]) { ... on User { auditTrail { edges { cursor } } } } }',
      ],
    ];
    it.each(operations)('refuses %s to anonymous callers (UNAUTHENTICATED), to users and to demoted admins (FORBIDDEN)', async (_name, query) => {
      const anonymous = await graphql(adminUrl, query);
      expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      const asUser = await graphql(adminUrl, query, { token: await tokens.mint({ userId: randomUUID() }) });
      expect(asUser.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      // An admin token whose account auth has since demoted, as admin's view of accounts records it.
      const demoted = randomUUID();
      await sql(`INSERT INTO admin.account_states (user_id, role, status, version) VALUES ($1, 'USER', 'ACTIVE', 3)`, [demoted]);
      const asDemoted = await graphql(adminUrl, query, { token: await tokens.mint({ userId: demoted, role: 'ADMIN' }) });
      expect(asDemoted.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    });

    it('names auth as the service it could not reach when auth does not answer (the gateway puts its own subgraph name in serviceName)', async () => {
      const result = await graphql(adminUrl, 'mutation ($id: ID!) { suspendUser(userId: $id, reason: "x") { id } }', {
        token: actorToken,
        variables: { id: randomUUID() },
      });
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE', unavailableService: 'auth' });
    });

    it('refuses an admin to suspend, demote or erase themself before asking anyone', async () => {
      for (const query of [
        'mutation ($id: ID!) { suspendUser(userId: $id, reason: "x") { id } }',
        'mutation ($id: ID!) { setUserRole(userId: $id, role: USER) { id } }',
        'mutation ($id: ID!) { eraseUser(userId: $id) { userId } }',
      ]) {
        for (const id of [actorId, actorId.toUpperCase()]) {
          const result = await graphql(adminUrl, query, { token: actorToken, variables: { id } });
          expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'userId' });
        }
      }
    });
  });

  describe('audit entries from the services that own the change', () => {
    it('records an entry once, however often it is delivered, with the service that sent it', async () => {
      const record = entry();
      await deliver(as('auth'), record);
      await deliver(as('auth'), record);
      expect(await sql('SELECT action, source, request_id, actor_id FROM admin.audit_entries WHERE id = $1', [record.id])).toEqual([
        { action: 'user.suspend', source: 'auth', request_id: 'req-1', actor_id: actorId },
      ]);
    });

    it('refuses entries a service does not own, and calls not signed by the service they claim to come from', async () => {
      const payments = as('payments');
      const profile = as('profile');
      // Claims to be auth, but signs with a key of its own that auth does not serve.
      const impostor = await fakePeer('auth', { admin: new URL(adminUrl).origin });
      const stranger = impostor.client;
      try {
        await expect(deliver(payments, entry())).rejects.toMatchObject({ status: 403 });
        await expect(deliver(profile, entry({ action: 'payment.refund' }))).rejects.toMatchObject({ status: 403 });
        await expect(deliver(stranger, entry())).rejects.toMatchObject({ status: 401 });
        await expect(deliver(payments, entry({ action: 'payment.refund', targetType: 'Payment', actorId: 'not a uuid' }))).rejects.toMatchObject({
          status: 400,
        });
        const allowed = entry({ action: 'payment.refund', targetType: 'Payment' });
        await deliver(payments, allowed);
        expect(await sql('SELECT source FROM admin.audit_entries WHERE id = $1', [allowed.id])).toEqual([{ source: 'payments' }]);
      } finally {
        await impostor.close();
      }
    });
  });

  describe('what PostgreSQL could not store', () => {
    it('refuses it as 400, in an entry or its event, and a topic no handler has: a 500, which the outbox retried for a day', async () => {
      const payments = as('payments');
      const refund = (overrides: Record<string, unknown>) => entry({ action: 'payment.refund', targetType: 'Payment', ...overrides });
      for (const bad of [
        refund({ targetId: 'a\u0000b' }),
        refund({ action: 'payment.\ud800' }),
        refund({ payload: { note: 'x\u0000' } }),
        refund({ payload: { 'key\u0000': 1 } }),
        refund({ requestId: 'r\udc00' }),
        refund({ createdAt: '0000-01-01T00:00:00Z' }),
      ]) {
        await expect(deliver(payments, bad)).rejects.toMatchObject({ status: 400 });
      }
      for (const topic of ['constructor', '__proto__', 'toString']) await expect(deliver(payments, refund({}), topic)).rejects.toMatchObject({ status: 400 });
    });
  });

  describe('auditLog and auditTrail', () => {
    it('filters the audit log by actor, action, target and time, newest first, with cursors', async () => {
      const target = randomUUID();
      const started = new Date(Date.now() - 1000).toISOString();
      await deliver(as('auth'), entry({ targetId: target, createdAt: new Date(Date.now() - 10).toISOString() }));
      await deliver(as('auth'), entry({ targetId: target, action: 'user.reinstate' }));
      const query = `query ($filter: AuditFilter, $after: String) { auditLog(first: 1, after: $after, filter: $filter) {
        edges { node { action targetId actor { id } } } pageInfo { hasNextPage endCursor } } }`;
      type Log = { auditLog: { edges: { node: { action: string; targetId: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } };
      const filter = { actorId, targetId: target, from: started };
      const first = await graphql<Log>(adminUrl, query, { token: actorToken, variables: { filter } });
      expect(first.data?.auditLog.edges.map((edge) => edge.node.action)).toEqual(['user.reinstate']);
      expect(first.data?.auditLog.pageInfo.hasNextPage).toBe(true);
      const second = await graphql<Log>(adminUrl, query, { token: actorToken, variables: { filter, after: first.data?.auditLog.pageInfo.endCursor } });
      expect(second.data?.auditLog.edges.map((edge) => edge.node.action)).toEqual(['user.suspend']);
      expect(second.data?.auditLog.pageInfo.hasNextPage).toBe(false);
      const byAction = await graphql<Log>(adminUrl, query, { token: actorToken, variables: { filter: { ...filter, action: 'user.suspend' } } });
      expect(byAction.data?.auditLog.edges.map((edge) => edge.node.targetId)).toEqual([target]);
      // A target's UUID in upper case is the same id (it matched nothing); first: 0 still says whether entries follow (it said none).
      const shouted = await graphql<Log>(adminUrl, query, { token: actorToken, variables: { filter: { ...filter, targetId: target.toUpperCase() } } });
      expect(shouted.data?.auditLog.edges.map((edge) => edge.node.action)).toEqual(['user.reinstate']);
      const none = await graphql<Log>(adminUrl, query.replace('first: 1', 'first: 0'), { token: actorToken, variables: { filter } });
      expect(none.data?.auditLog).toEqual({ edges: [], pageInfo: { hasNextPage: true, endCursor: null } });

      const trail = await graphql<{ _entities: { auditTrail: { edges: { node: { action: string; actor: { id: string } } }[] } }[] }>(
        adminUrl,
        'query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { auditTrail { edges { node { action actor { id } } } } } } }',
        { token: actorToken, variables: { r: [{ __typename: 'User', id: target }] } },
      );
      expect(trail.data?._entities[0]?.auditTrail.edges.map((edge) => edge.node)).toEqual([
        { action: 'user.reinstate', actor: { id: actorId } },
        { action: 'user.suspend', actor: { id: actorId } },
      ]);
    });

    it('never slips an entry that arrives late into a page a client has read: the log is in the order admin recorded it', async () => {
      const target = randomUUID();
      const ago = (seconds: number) => new Date(Date.now() - seconds * 1000).toISOString();
      const [older, newer, late] = [
        entry({ targetId: target, createdAt: ago(180) }),
        entry({ targetId: target, createdAt: ago(1) }),
        entry({ targetId: target, createdAt: ago(60) }),
      ];
      await deliver(as('auth'), older);
      await deliver(as('auth'), newer);
      type Log = { auditLog: { edges: { node: { id: string } }[] } };
      const ids = async (first: number) =>
        (
          await graphql<Log>(adminUrl, `query ($t: String) { auditLog(first: ${first}, filter: { targetId: $t }) { edges { node { id } } } }`, {
            token: actorToken,
            variables: { t: target },
          })
        ).data?.auditLog.edges.map((edge) => edge.node.id) ?? [];
      const page = await ids(2);
      // Made a minute ago, delivered now (its service's outbox could not reach admin meanwhile).
      await deliver(as('payments'), { ...late, action: 'payment.refund' });
      const all = await ids(10);
      expect(all).toEqual([late.id, newer.id, older.id]);
      expect(all.slice(all.indexOf(page[0] as string), all.indexOf(page.at(-1) as string) + 1)).toEqual(page);
      const trail = await graphql<{ _entities: { auditTrail: { edges: { node: { id: string } }[] } }[] }>(
        adminUrl,
        'query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { auditTrail { edges { node { id } } } } } }',
        { token: actorToken, variables: { r: [{ __typename: 'User', id: target }] } },
      );
      expect(trail.data?._entities[0]?.auditTrail.edges.map((edge) => edge.node.id)).toEqual(all);
    });

    // Admin's part of the dashboard is the entity and its key; the figures auth and payments resolve from
    // that key, and that they count what was made, are checked through the gateway (test/admin.test.ts).
    it('answers adminStats with the key through which auth and payments contribute the figures', async () => {
      const result = await graphql(adminUrl, '{ adminStats { __typename scope } }', { token: actorToken });
      expect({ errors: result.errors, data: result.data }).toEqual({ errors: undefined, data: { adminStats: { __typename: 'AdminStats', scope: 'all' } } });
    });
  });

  describe('the erasure worker', () => {
    it('parks an erasure that fails for the last allowed time, with why, and counts it; asking again un-parks it, for the admin who asked', async () => {
      const userId = randomUUID();
      // An interrupted erasure one attempt short of ERASURE_MAX_ATTEMPTS (200), due now; the stand-in auth
      // cannot answer its command, so this attempt fails too.
      await sql(
        `INSERT INTO admin.erasure_requests (user_id, requested_by, request_id, lease_until, attempts) VALUES ($1, $2, 'req-parked', now() - interval '1 second', 199)`,
        [userId, actorId],
      );
      const parked = await pollUntil(
        'parked',
        async () =>
          (
            await sql<{ attempts: number; parked: boolean; error: string; completed: boolean }>(
              `SELECT attempts, parked_at IS NOT NULL AS parked, last_error AS error, completed_at IS NOT NULL AS completed FROM admin.erasure_requests WHERE user_id = $1`,
              [userId],
            )
          ).find((row) => row.parked),
        { timeoutMs: 20_000 },
      );
      expect(parked).toEqual({ attempts: 200, parked: true, error: expect.stringContaining('auth'), completed: false });
      const metrics = await (await fetch(adminUrl.replace('/graphql', '/metrics'))).text();
      expect(metrics).toMatch(/background_jobs_total\{worker="erasure",outcome="parked"[^}]*\} 1\n/);

      // An admin's request runs it again, whatever the worker decided, and on that admin's authority from
      // now on: the first one may since have been demoted, and auth would refuse an erasure in their name.
      const secondAdmin = randomUUID();
      const again = await graphql(adminUrl, 'mutation ($id: ID!) { eraseUser(userId: $id) { userId } }', {
        token: await tokens.mint({ userId: secondAdmin, role: 'ADMIN' }),
        variables: { id: userId },
        headers: { 'x-request-id': 'req-again' },
      });
      expect(again.errors?.[0]?.extensions?.code).toBe('SUBGRAPH_UNAVAILABLE');
      expect(
        await sql(`SELECT attempts, parked_at IS NOT NULL AS parked, requested_by, request_id FROM admin.erasure_requests WHERE user_id = $1`, [userId]),
      ).toEqual([{ attempts: 1, parked: false, requested_by: secondAdmin, request_id: 'req-again' }]);
    });
  });
});
