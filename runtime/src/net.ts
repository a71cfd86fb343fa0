// TCP ports: whether one is free, and a free one to give a server that must be told its port before it starts.
import { mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The HTTP URL of `path` on `host:port`: an IPv6 address in brackets (`HOST=::1`), as a URL writes it. */
export function serverUrl(host: string, port: number | string, path = ''): string {
  return `http://${net.isIPv6(host) ? `[${host}]` : host}:${port}${path}`;
}

/**
 * True when nothing listens on `host:port` yet; false when something does (or the port is not ours to
 * take). Rejects with the error when `host` cannot be listened on at all (not an address of this machine,
 * a name that does not resolve): that is no port in use.
 */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' || error.code === 'EACCES' ? resolve(false) : reject(error)));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** Where free ports are looked for: below Linux's ephemeral range (32768 and up), where outgoing connections take theirs. */
const FREE_PORTS = { from: 20_000, to: 32_767 };

/** Ports this process has handed out: the servers given them may not listen yet, so none is handed out twice. */
const handedOut = new Set<number>();

/** Where the processes on this machine note the ports they were handed (a file each), so that another process leaves them alone. */
const RESERVATIONS = path.join(os.tmpdir(), 'fedstack-ports');
/** How long a port handed out by another process stays its own: its server listens well within this. */
const RESERVED_MS = 10 * 60_000;
/** Whether this process has made sure the folder exists. */
let reservationsMade = false;

/**
 * Notes `port` as handed out, unless another process did within RESERVED_MS: a port is free until its
 * server listens, which can be many seconds after it was chosen (a stack starting its database first),
 * and another test run's or worker's pick in that window took it (a launcher test failed on "port in
 * use"). A temporary folder that cannot be written reserves nothing, as before.
 */
function reserve(port: number): boolean {
  const file = path.join(RESERVATIONS, String(port));
  try {
    if (!reservationsMade) {
      mkdirSync(RESERVATIONS, { recursive: true });
      reservationsMade = true;
    }
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return true;
  }
  try {
    if (Date.now() - statSync(file).mtimeMs < RESERVED_MS) return false;
    // Reserved long ago: taken over.
    const now = new Date();
    utimesSync(file, now, now);
  } catch {
    // Gone meanwhile, or not ours to touch: the port's own check below decides.
  }
  return true;
}

/**
 * A free TCP port on 127.0.0.1, for a server started later that others must know the port of (a
 * subgraph the gateway routes to). Not port 0's choice: the kernel answers from the ephemeral range, where
 * any outgoing connection made before the server binds may take the same port; below it, only another
 * server can, and a random pick makes that unlikely. No port is handed out twice in a process, nor one
 * that another process on this machine was handed in the last ten minutes. With `count`, the ports after
 * it are free too and handed out with it, for a server that takes the next ones itself (the embedded
 * PostgreSQL's replica listens on the primary's port + 1).
 */
export async function freePort(count = 1): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const port = FREE_PORTS.from + Math.floor(Math.random() * (FREE_PORTS.to - FREE_PORTS.from + 2 - count));
    const ports = Array.from({ length: count }, (_unused, offset) => port + offset);
    if (ports.some((each) => handedOut.has(each))) continue;
    // Taken before looking, so that calls at the same time cannot pick it too.
    for (const each of ports) handedOut.add(each);
    if (ports.every(reserve) && (await Promise.all(ports.map((each) => portIsFree(each)))).every(Boolean)) return port;
  }
  throw new Error(`no free port found from ${FREE_PORTS.from} to ${FREE_PORTS.to}`);
}
