import net from 'node:net';
import { createLogger, pollUntil } from '@fedstack/runtime';
import { serviceConnection } from '@fedstack/shared-db';
import { ownerQuery } from '../testing';
import { NotificationListener } from './listener';

/**
 * The LISTEN connection through a proxy that can go silent, as a connection does whose server vanished
 * without a word (a failover, a partition): nothing is closed, nothing arrives.
 */
describe('NotificationListener', () => {
  it('counts a connection that stops answering as lost (with heartbeats), and listens again once it can', async () => {
    const database = new URL(serviceConnection('payments', process.env).url);
    let silent = false;
    const sockets: net.Socket[] = [];
    // Half-open allowed: a goodbye (FIN) sent into the silence is not answered by the proxy either.
    const proxy = net.createServer({ allowHalfOpen: true }, (client) => {
      const server = net.connect({ port: Number(database.port || 5432), host: database.hostname, allowHalfOpen: true });
      sockets.push(client, server);
      client.on('data', (chunk) => void (silent || server.write(chunk)));
      server.on('data', (chunk) => void (silent || client.write(chunk)));
      for (const [from, to] of [
        [client, server],
        [server, client],
      ] as const) {
        from.on('error', () => to.destroy());
        from.on('close', () => to.destroy());
      }
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxied = new URL(database);
    proxied.host = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;

    const heard: string[] = [];
    let lost = 0;
    const listener = new NotificationListener({
      url: proxied.toString(),
      channels: ['listener_test'],
      onNotification: (message) => heard.push(message.payload ?? ''),
      onLost: () => (lost += 1),
      heartbeatMs: 500,
      maxBackoffMs: 200,
      logger: createLogger('test', 'silent'),
    });
    try {
      await listener.start();
      await pollUntil('listening', () => listener.listening, { timeoutMs: 5000 });
      const before = lost;
      silent = true;
      await pollUntil('the silent connection counted as lost', () => lost > before && !listener.listening, { timeoutMs: 5000 });
      silent = false;
      await pollUntil('listening again', () => listener.listening, { timeoutMs: 5000 });
      // Sent again until heard: a stall of the test's process past the heartbeat would count this connection
      // lost too, and a notification sent while it reconnects is not heard (which is what `onLost` says).
      await pollUntil(
        'the notification heard',
        async () => {
          await ownerQuery('payments', `SELECT pg_notify('listener_test', 'after')`);
          return heard.includes('after');
        },
        { timeoutMs: 5000, intervalMs: 100 },
      );

      // The server goes silent again, and the process stops before the heartbeat notices: stop() does not
      // wait for an answer to its goodbye (TCP would give up on it after some 15 minutes).
      silent = true;
      const stopping = Date.now();
      let giveUp: NodeJS.Timeout | undefined;
      const stopped = await Promise.race([
        listener.stop().then(() => 'stopped'),
        new Promise((resolve) => (giveUp = setTimeout(resolve, 15_000, 'still stopping'))),
      ]);
      // Not left pending: a timer keeps the test's worker from exiting.
      clearTimeout(giveUp);
      expect({ stopped, promptly: Date.now() - stopping < 10_000 }).toEqual({ stopped: 'stopped', promptly: true });
    } finally {
      await listener.stop();
      // Half-open, the connections it relayed would stay open for ever: the test's worker could not exit.
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
