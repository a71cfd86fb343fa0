import { RESTART_POLICY, RestartBudget } from './restart-budget';

describe('RestartBudget', () => {
  it('waits twice as long after each death, and is spent at the sixth within ten minutes', () => {
    let now = 0;
    const budget = new RestartBudget(RESTART_POLICY, () => now);
    const waits = [];
    for (let death = 0; death < 5; death += 1) {
      waits.push(budget.next());
      now += 60_000;
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000, 16000].map((delayMs, index) => ({ delayMs, restart: index + 1 })));
    expect(budget.next()).toBeUndefined();
  });

  it('starts again from the first wait once the deaths are older than the window', () => {
    let now = 0;
    const budget = new RestartBudget(RESTART_POLICY, () => now);
    budget.next();
    budget.next();
    now += RESTART_POLICY.windowMs;
    expect(budget.next()).toEqual({ delayMs: 1000, restart: 1 });
  });
});
