import { randomUUID } from 'node:crypto';
import { ERASE_INPUT } from './erasure';

describe("the erase command's input", () => {
  const userId = randomUUID();
  const erased = { userId, version: 7, role: 'USER', status: 'ACTIVE', erasedAt: '2026-12-06T12:00:00.000Z' } as const;

  it('takes the erased state of the user being erased, in either case of the id', () => {
    expect(ERASE_INPUT.safeParse({ userId: userId.toUpperCase(), account: erased }).success).toBe(true);
  });

  it("refuses another user's state, or one not erased: either would be written into the service's view of accounts", () => {
    for (const account of [
      { ...erased, userId: randomUUID() },
      { ...erased, erasedAt: null },
    ]) {
      const parsed = ERASE_INPUT.safeParse({ userId, account });
      expect({ success: parsed.success, issues: parsed.error?.issues.map(({ path, message }) => ({ path, message })) }).toEqual({
        success: false,
        issues: [{ path: ['account'], message: 'account must be the erased state of the user being erased, as auth answered it' }],
      });
    }
  });
});
