import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
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

  it('never hands out a port twice, to calls at the same time either, nor the ports after one asked for with a count', async () => {
    // Random picks from 12,768 ports: 400 calls would share a dozen ports between them if nothing were kept.
    const picks = await Promise.all(Array.from({ length: 400 }, (_unused, index) => (index % 2 === 0 ? freePort(2) : freePort())));
    const taken = picks.flatMap((port, index) => (index % 2 === 0 ? [port, port + 1] : [port]));
    expect(new Set(taken).size).toBe(taken.length);
    expect(taken.every((port) => port >= 20_000 && port < 32_768)).toBe(true);
  });

  it('leaves alone the ports another process on this machine was handed, until their servers have had time to listen', async () => {
    // Another process's picks, as it notes them: 300 of the 12,768 ports. 300 picks here would share about seven with them otherwise.
    const reservations = path.join(os.tmpdir(), 'fedstack-ports');
    mkdirSync(reservations, { recursive: true });
    // Noted here and now, over ports no note holds or whose note has lapsed (an earlier run's): after
    // enough runs on one machine every port of the range has a note, and waiting for one without any
    // never ended.
    const theirs = new Set<number>();
    const written: string[] = [];
    try {
      for (let tries = 0; theirs.size < 300; tries += 1) {
        if (tries > 100_000) throw new Error('fewer than 300 ports of the range are free of a live note');
        const port = 20_000 + Math.floor(Math.random() * 12_768);
        const file = path.join(reservations, String(port));
        if (theirs.has(port) || (existsSync(file) && Date.now() - statSync(file).mtimeMs < 10 * 60_000)) continue;
        writeFileSync(file, '1');
        written.push(file);
        theirs.add(port);
      }
      const ours = await Promise.all(Array.from({ length: 300 }, () => freePort()));
      expect(ours.filter((port) => theirs.has(port))).toEqual([]);
    } finally {
      for (const file of written) rmSync(file, { force: true });
    }
  });
});
