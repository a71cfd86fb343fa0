import type * as Runtime from '@fedstack/runtime';
import { applyAccountPolicy, type AccountSnapshot } from './accounts';
import type * as Accounts from './accounts';
import type { Viewer } from './tokens';

const viewer = (role: 'USER' | 'ADMIN'): Viewer => ({
  userId: '6e0c2b9a-0000-4000-8000-000000000001',
  role,
  sessionId: 's',
  tokenId: 't',
  expiresAt: 1_800_000_000_000,
});
const account = (overrides: Partial<AccountSnapshot> = {}): AccountSnapshot => ({
  role: 'USER',
  status: 'ACTIVE',
  erased: false,
  sessionEnded: false,
  ...overrides,
});

describe('the account policy', () => {
  it('takes the token as it is for an account nothing has happened to (no view row)', () => {
    expect(applyAccountPolicy(viewer('ADMIN'), null)).toEqual({ viewer: viewer('ADMIN'), error: null });
  });

  it('takes a role away at once, and gives one only with the next token', () => {
    expect(applyAccountPolicy(viewer('ADMIN'), account({ role: 'USER' })).viewer?.role).toBe('USER');
    expect(applyAccountPolicy(viewer('USER'), account({ role: 'ADMIN' })).viewer?.role).toBe('USER');
    expect(applyAccountPolicy(viewer('ADMIN'), account({ role: 'ADMIN' })).viewer?.role).toBe('ADMIN');
  });

  it.each([
    ['erased', account({ erased: true, status: 'SUSPENDED' }), 'UNAUTHENTICATED'],
    ['suspended', account({ status: 'SUSPENDED' }), 'FORBIDDEN'],
    ['signed out (its sign-in ended)', account({ sessionEnded: true }), 'UNAUTHENTICATED'],
  ])('refuses the token of an account %s', (_label, state, code) => {
    const decision = applyAccountPolicy(viewer('ADMIN'), state);
    expect(decision.viewer).toBeNull();
    expect(decision.error?.extensions.code).toBe(code);
  });
});

describe("the services auth's account events go to", () => {
  it('are every service of the stack but auth, a service added to the stack included (one added without a line here kept serving a suspended account)', () => {
    jest.isolateModules(() => {
      jest.doMock('@fedstack/runtime', () => {
        const runtime = jest.requireActual<typeof Runtime>('@fedstack/runtime');
        return { ...runtime, SERVICES: [...runtime.SERVICES, 'notes'] };
      });
      const { ACCOUNT_VIEW_SERVICES } = jest.requireActual<typeof Accounts>('./accounts');
      expect(ACCOUNT_VIEW_SERVICES).toEqual(['profile', 'payments', 'admin', 'notes']);
    });
  });
});
