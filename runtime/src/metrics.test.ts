import { ServiceMetrics } from './metrics';

describe('operation labels', () => {
  it('count a name longer than any app gives an operation as "other", without taking the place of a real name', async () => {
    const metrics = new ServiceMetrics({ service: 'test' });
    for (let n = 0; n < 150; n += 1) {
      metrics.requests.inc({ operation: metrics.operationLabel(`Junk${n}${'x'.repeat(45_000)}`), outcome: 'ok' });
    }
    metrics.requests.inc({ operation: metrics.operationLabel('ProfileRead'), outcome: 'ok' });
    const scrape = await metrics.registry.metrics();
    // 100 such names made every scrape megabytes long, and ran a subgraph's heap out at the next one.
    expect(scrape.length).toBeLessThan(100_000);
    const counted = (await metrics.requests.get()).values.map(({ labels, value }) => [labels.operation, value]);
    expect(counted).toEqual([
      ['other', 150],
      ['ProfileRead', 1],
    ]);
  });

  it('keep names up to 100 characters, and past 100 distinct names count the rest as "other"', () => {
    const metrics = new ServiceMetrics({ service: 'test' });
    const longest = `Q${'x'.repeat(99)}`;
    expect(metrics.operationLabel(longest)).toBe(longest);
    for (let n = 1; n < 100; n += 1) expect(metrics.operationLabel(`Op${n}`)).toBe(`Op${n}`);
    expect(metrics.operationLabel('OneTooMany')).toBe('other');
    expect(metrics.operationLabel(undefined)).toBe('anonymous');
  });

  it('keep a label for every listed name, however many other names came first, until another list replaces them', () => {
    const metrics = new ServiceMetrics({ service: 'test' });
    metrics.listOperationNames(['MyAccount', 'Pay']);
    for (let n = 0; n < 100; n += 1) expect(metrics.operationLabel(`Squat${n}`)).toBe(`Squat${n}`);
    expect(metrics.operationLabel('Unlisted')).toBe('other');
    expect([metrics.operationLabel('MyAccount'), metrics.operationLabel('Pay')]).toEqual(['MyAccount', 'Pay']);
    metrics.listOperationNames(['MyAccount', 'Refund']);
    expect([metrics.operationLabel('Refund'), metrics.operationLabel('Pay'), metrics.operationLabel('Squat7')]).toEqual(['Refund', 'other', 'Squat7']);
  });

  it('at a subgraph, keep a label for names the gateway says are listed, past the first 100 others (at most 1000); nowhere else', () => {
    const subgraph = new ServiceMetrics({ service: 'auth' }, { takesListedHeader: true });
    const gateway = new ServiceMetrics({ service: 'gateway' });
    for (const metrics of [subgraph, gateway]) for (let n = 0; n < 100; n += 1) metrics.operationLabel(`Squat${n}__auth__0`);
    expect([subgraph.operationLabel('Me__auth__0', '1'), subgraph.operationLabel('Unlisted__auth__0')]).toEqual(['Me__auth__0', 'other']);
    // A client's own header at the gateway (or anywhere that does not take it) vouches for nothing.
    expect(gateway.operationLabel('Me__auth__0', '1')).toBe('other');
    for (let n = 1; n < 1000; n += 1) subgraph.operationLabel(`Listed${n}`, '1');
    expect([subgraph.operationLabel('OneTooMany', '1'), subgraph.operationLabel('Me__auth__0')]).toEqual(['other', 'Me__auth__0']);
  });
});
