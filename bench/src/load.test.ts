import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { drive, isAnswer, mid } from './load';

describe('what the load generator counts as served', () => {
  it('is a GraphQL answer with data and no errors', () => {
    expect(isAnswer('{"data":{"me":{"id":"1"}}}')).toBe(true);
    expect(isAnswer('{"data":{"me":null}}')).toBe(true);
    for (const body of ['', '<html>502 Bad Gateway</html>', '{"data":null}', '{}', '{"data":{},"errors":[]}', 'null', '{"data":']) {
      expect({ body, served: isAnswer(body) }).toEqual({ body, served: false });
    }
  });

  it('counts a 200 that is no answer as an error (HTML, an empty body and {"data":null} counted as served)', async () => {
    let answered = 0;
    const bodies = ['{"data":{"me":{"id":"1"}}}', '<html>oops</html>', '', '{"data":null}'];
    const server: Server = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end(bodies[answered++ % bodies.length]));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
      const result = await drive({ via: 'a junk server', url, next: () => ({ headers: {}, body: '{"query":"{ me { id } }"}' }) }, 1, 2);
      expect(result.requests).toBeGreaterThan(8);
      // Three of every four answers are junk (the count's last few may be cut off mid-cycle).
      expect(Math.abs(result.errors - (result.requests * 3) / 4)).toBeLessThanOrEqual(3);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('the median over rounds', () => {
  it('is the mean of the two middle values for an even number of rounds (CPU took the larger one)', () => {
    expect([mid([1.5, 0.5]), mid([3, 1, 2]), mid([4, 1, 2, 3]), mid([])]).toEqual([1, 2, 2.5, Number.NaN]);
  });
});
