import net from 'node:net';
import { freePort, portIsFree } from './net';

describe('freePort', () => {
  it('answers a free port below the ephemeral range, where outgoing connections cannot take it first', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const port of ports) expect(port >= 20_000 && port < 32_768).toBe(true);
    const port = ports[0] as number;
    expect(await portIsFree(port)).toBe(true);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      expect(await portIsFree(port)).toBe(false);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
