// TCP ports: whether one is free, and a free one to give a server that must be told its port before it starts.
import net from 'node:net';

/** True when nothing listens on `host:port` yet. */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** Where free ports are looked for: below Linux's ephemeral range (32768 and up), where outgoing connections take theirs. */
const FREE_PORTS = { from: 20_000, to: 32_767 };

/**
 * A free TCP port on 127.0.0.1, for a server started later that others must know the port of (a
 * subgraph the gateway routes to). Not port 0's choice: the kernel answers from the ephemeral range, where
 * any outgoing connection made before the server binds may take the same port; below it, only another
 * server can, and a random pick makes that unlikely.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const port = FREE_PORTS.from + Math.floor(Math.random() * (FREE_PORTS.to - FREE_PORTS.from + 1));
    if (await portIsFree(port)) return port;
  }
  throw new Error(`no free port found from ${FREE_PORTS.from} to ${FREE_PORTS.to}`);
}
