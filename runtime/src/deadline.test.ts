import type { AddressInfo } from 'node:net';
import express from 'express';
import { refuseLate } from './deadline';
import { createLogger } from './logger';

describe('requests that arrive after their caller stopped waiting (x-request-deadline)', () => {
  it('are answered 504 and not run, later than a second past it; the rest are run', async () => {
    const lines: string[] = [];
    const logger = createLogger('profile', 'info', { write: (line: string) => void lines.push(line) });
    let runs = 0;
    const app = express();
    app.use('/graphql', refuseLate(logger), (_req, res) => void res.json({ run: (runs += 1) }));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    const at = (deadline: string) => fetch(url, { method: 'POST', headers: { 'x-request-deadline': deadline } });
    try {
      const late = await at(String(Date.now() - 5000));
      expect({ status: late.status, body: await late.json() }).toEqual({
        status: 504,
        body: {
          errors: [
            {
              message: expect.stringMatching(/^The request arrived \d+ ms after its caller stopped waiting for it: not run$/),
              extensions: { code: 'SUBGRAPH_UNAVAILABLE' },
            },
          ],
        },
      });
      expect(runs).toBe(0);
      expect(lines.join('')).toContain('request arrived after its caller stopped waiting; not run');
      // Within the clocks' allowance, before the deadline, or with one that is not a time: run.
      // Each reckoned as it is sent: reckoned together, the first could arrive more than its allowance late.
      for (const deadline of [() => String(Date.now() - 500), () => String(Date.now() + 5000), () => 'soon']) expect((await at(deadline())).status).toBe(200);
      expect(runs).toBe(3);
    } finally {
      server.close();
    }
  });
});
