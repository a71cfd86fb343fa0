import { ConfigError } from '@fedstack/runtime';
import { describeLayout, replicaMaxLagMs, serviceReplicaConnections } from './config';

const OWNER = 'postgresql://owner:secret@primary:5432/fedstack';

describe('replica settings', () => {
  it('are none unless set: every read stays on the primary', () => {
    expect(serviceReplicaConnections('payments', { DATABASE_URL: OWNER })).toEqual([]);
    expect(replicaMaxLagMs({})).toBe(1000);
  });

  it("place DATABASE_REPLICA_URL's servers as DATABASE_URL is placed, as the service's role, in either layout", () => {
    const env = {
      DATABASE_URL: OWNER,
      DATABASE_REPLICA_URL: 'postgresql://owner:secret@replica-a:5432/fedstack, postgresql://owner:secret@replica-b/fedstack',
    };
    expect(serviceReplicaConnections('payments', env)).toEqual([
      { url: 'postgresql://payments_svc:payments_svc_local_only@replica-a:5432/fedstack', source: 'DATABASE_REPLICA_URL' },
      { url: 'postgresql://payments_svc:payments_svc_local_only@replica-b/fedstack', source: 'DATABASE_REPLICA_URL' },
    ]);
    expect(serviceReplicaConnections('auth', { ...env, DB_LAYOUT: 'split', AUTH_DB_PASSWORD: 'pw' }).map((replica) => replica.url)).toEqual([
      'postgresql://auth_svc:pw@replica-a:5432/fedstack_auth',
      'postgresql://auth_svc:pw@replica-b/fedstack_auth',
    ]);
  });

  it("give a service its own replicas with <SERVICE>_DATABASE_REPLICA_URL, and a service moved out none of DATABASE_URL's", () => {
    const env = {
      DATABASE_URL: OWNER,
      DATABASE_REPLICA_URL: 'postgresql://owner:secret@replica-a/fedstack',
      PAYMENTS_DATABASE_URL: 'postgresql://owner:secret@payments-db/payments',
      ADMIN_DATABASE_REPLICA_URL: 'postgresql://admin_svc:own@admin-replica/fedstack',
    };
    expect(serviceReplicaConnections('payments', env)).toEqual([]);
    expect(serviceReplicaConnections('payments', { ...env, PAYMENTS_DATABASE_REPLICA_URL: 'postgresql://owner:secret@payments-replica/payments' })).toEqual([
      { url: 'postgresql://payments_svc:payments_svc_local_only@payments-replica/payments', source: 'PAYMENTS_DATABASE_REPLICA_URL' },
    ]);
    // As the service's role, used as is.
    expect(serviceReplicaConnections('admin', env)).toEqual([
      { url: 'postgresql://admin_svc:own@admin-replica/fedstack', source: 'ADMIN_DATABASE_REPLICA_URL' },
    ]);
  });

  it('name the setting that cannot work', () => {
    expect(() => serviceReplicaConnections('profile', { DATABASE_URL: OWNER, DATABASE_REPLICA_URL: `${OWNER},mysql://x/y` })).toThrow(
      new ConfigError('DATABASE_REPLICA_URL must start with postgresql:// (got "mysql:")'),
    );
    expect(() => replicaMaxLagMs({ DB_REPLICA_MAX_LAG_MS: 'soon' })).toThrow('DB_REPLICA_MAX_LAG_MS must be a whole number from 0 to');
  });
});

describe('the layout in words', () => {
  it('names the services given a database of their own, where it said "one database" of all', () => {
    const own = 'postgresql://postgres@db:5432/payments';
    expect([
      describeLayout({}),
      describeLayout({ PAYMENTS_DATABASE_URL: own }),
      describeLayout({ DB_LAYOUT: 'split' }),
      describeLayout({ AUTH_DATABASE_URL: own, PROFILE_DATABASE_URL: own, PAYMENTS_DATABASE_URL: own, ADMIN_DATABASE_URL: own }),
    ]).toEqual([
      'one database, a schema per service',
      'a database of its own for payments, one with a schema each for the others',
      'a database per service',
      'a database per service',
    ]);
  });
});
