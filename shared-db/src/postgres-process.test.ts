import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initialise, openParents, serverUser } from './postgres-process';

// As root (a container, a fresh VM), `npm start` runs PostgreSQL as the `postgres` system user, which has
// to pass through every parent of the data directory; as anyone else the server runs as that user, and
// there is nothing to check.
const asRoot = process.getuid?.() === 0;

(asRoot ? describe : describe.skip)("the embedded PostgreSQL's data directory, made as root", () => {
  let base: string;
  beforeAll(() => {
    // Where a clone would be: mkdtemp makes the folder private to root, so it is opened as a checkout's is.
    base = mkdtempSync(path.join(os.tmpdir(), 'fedstack-data-dir-'));
    chmodSync(base, 0o755);
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('is created with parents the server can pass through (as on a fresh clone, where .data does not exist yet)', async () => {
    const dataDir = path.join(base, 'clone', '.data', 'postgres');
    const user = await serverUser();
    // As startEmbeddedPostgres does, under a umask that would keep what it makes private.
    const umask = process.umask(0o077);
    try {
      await openParents(dataDir, user);
      await initialise(dataDir, 'owner', 'owner-password', user);
    } finally {
      process.umask(umask);
    }
    expect(existsSync(path.join(dataDir, 'PG_VERSION'))).toBe(true);
    expect(statSync(path.join(base, 'clone', '.data')).mode & 0o001).toBe(0o001);
  });

  it('names a parent the server cannot pass through, rather than failing in initdb with "Permission denied"', async () => {
    const closed = path.join(base, 'closed');
    mkdirSync(closed, { mode: 0o700 });
    await expect(openParents(path.join(closed, 'postgres'), await serverUser())).rejects.toThrow(
      `${closed} has mode 700 (give others access with chmod o+x ${closed}, or set EMBEDDED_PG_DATA_DIR elsewhere)`,
    );
  });
});

describe("the embedded PostgreSQL's data directory, where it cannot be", () => {
  let base: string;
  beforeAll(() => {
    base = mkdtempSync(path.join(os.tmpdir(), 'fedstack-data-dir-'));
    writeFileSync(path.join(base, 'a-file'), '');
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('is named in one line when it is a file, or under one (the start ended in a stack trace)', async () => {
    const file = path.join(base, 'a-file');
    const user = await serverUser();
    for (const dataDir of [file, path.join(file, 'postgres'), path.join(file, 'deeper', 'postgres')]) {
      await expect(openParents(dataDir, user)).rejects.toThrow(
        `EMBEDDED_PG_DATA_DIR: ${file} is not a folder (set EMBEDDED_PG_DATA_DIR to a folder for the embedded PostgreSQL's data)`,
      );
    }
  });

  it('is named when its parents cannot be made, under /proc (Node never returned from making them)', async () => {
    await expect(openParents('/proc/fedstack-nope/postgres', await serverUser())).rejects.toThrow(
      /^EMBEDDED_PG_DATA_DIR: cannot make \/proc\/fedstack-nope \(/,
    );
  });
});
