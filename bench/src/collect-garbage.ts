// Full garbage collections in running Node processes, through their inspectors: the memory they hold, not what awaits collection.
import { once } from 'node:events';
import WebSocket from 'ws';
import { treeRssMb } from './memory';

/** How long one process may take to collect its garbage. */
const COLLECTION_TIMEOUT_MS = 30_000;

/** Where a process's inspector listens (`--inspect=host:port`); a cluster's workers take the ports after. */
export interface Inspector {
  host: string;
  ports: number[];
}

/** The Node option that opens a process's inspector there. */
export const inspectOption = (inspector: Inspector) => `--inspect=${inspector.host}:${inspector.ports[0]}`;

/**
 * Asks every Node process whose inspector listens on one of `ports` for a full garbage collection, V8's "low memory" one, which also gives
 * freed pages back; a port nobody listens on is skipped. A gateway's heap after a burst of connections
 * holds mostly garbage that V8 collects only when it needs the room (none was collected in 40 s idle), so
 * resident memory read without this measures the collector's timing more than what is held.
 */
export async function collectGarbage({ host, ports }: Inspector): Promise<void> {
  for (const port of ports) {
    let targets: { webSocketDebuggerUrl: string }[];
    try {
      targets = (await (await fetch(`http://${host}:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
    } catch {
      continue;
    }
    for (const { webSocketDebuggerUrl } of targets) {
      const socket = new WebSocket(webSocketDebuggerUrl);
      // A process that does not answer fails the row rather than hanging it.
      const timer = setTimeout(() => socket.terminate(), COLLECTION_TIMEOUT_MS);
      try {
        await once(socket, 'open');
        const answered = new Promise<void>((resolve, reject) => {
          socket.on('message', (data: Buffer) => (JSON.parse(data.toString('utf8')) as { id?: number }).id === 1 && resolve());
          socket.once('close', () => reject(new Error(`no full garbage collection from the inspector on port ${port} within ${COLLECTION_TIMEOUT_MS} ms`)));
        });
        socket.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
        await answered;
      } finally {
        clearTimeout(timer);
        socket.close();
      }
    }
  }
}

/** A process tree's resident memory after a full garbage collection in each of its processes, in kB; undefined without inspectors. */
export async function residentAfterCollectionKb(root: { pid: number; inspector?: Inspector }): Promise<number | undefined> {
  if (!root.inspector) return undefined;
  await collectGarbage(root.inspector);
  // The pages freed leave the resident set a moment later.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return treeRssMb(root.pid, 'now').total * 1024;
}
