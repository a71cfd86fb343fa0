import { performance } from 'node:perf_hooks';
const mods = ['graphql', '@apollo/server', '@apollo/gateway', '@apollo/subgraph', 'pg', '@prisma/client/runtime/client', '@fedstack/runtime', '@fedstack/shared-db', '@fedstack/service-kit', '@fedstack/service-kit/testing', '@fedstack/gateway', '@fedstack/auth', '@fedstack/profile', '@fedstack/payments', '@fedstack/admin'];
test('probe', () => {
  const t0 = process.cpuUsage();
  for (const m of mods) {
    const c = process.cpuUsage();
    const w = performance.now();
    require(m);
    const d = process.cpuUsage(c);
    console.log(m, ((d.user + d.system) / 1000).toFixed(0), 'cpu ms', (performance.now() - w).toFixed(0), 'ms');
  }
  const d = process.cpuUsage(t0);
  console.log('total', ((d.user + d.system) / 1000).toFixed(0));
});
