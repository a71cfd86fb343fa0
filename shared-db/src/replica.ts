// A streaming replica of the embedded PostgreSQL, made with the low-level base-backup functions (the embedded binaries have no pg_basebackup).
import { existsSync } from 'node:fs';
import { chown, copyFile, mkdir, readdir, rm, writeFile, appendFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { StartupError } from '@fedstack/runtime';
import { runningServer, startEmbeddedPostgres, type RunningPostgres } from './embedded';

export interface EmbeddedReplicaOptions {
  /** The primary's owner connection: a superuser's, which the base backup and the replication slot need. */
  primaryUrl: string;
  /** Where the replica keeps its data; an existing replica there is started as it is. */
  dataDir: string;
  port: number;
  /** `recovery_min_apply_delay` for this run: the replica replays each commit this long after it (tests of stale reads). */
  applyDelayMs?: number;
  /** Delete the data directory, and the primary's slot for it, when stopped (test runs). */
  ephemeral?: boolean;
  /** As for the primary: a session of its own, stopped by whoever started it (`npm start`). */
  detached?: boolean;
  onLog?: (line: string) => void;
}

type Owner = { uid?: number; gid?: number };

/**
 * What a base backup leaves out, as PostgreSQL's documentation on low-level backups (and pg_basebackup)
 * does: the running server's own files, and what a replica must start without (its WAL comes by streaming,
 * from the slot; the primary's slots and runtime state are not its own). Directories here are made empty.
 */
const SKIPPED_FILES = new Set(['postmaster.pid', 'postmaster.opts', 'backup_label', 'tablespace_map', 'backup_manifest', 'standby.signal', 'recovery.signal']);
const EMPTIED_DIRECTORIES = new Set(['pg_wal', 'pg_replslot', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_stat_tmp', 'pg_subtrans']);

async function owned(target: string, owner: Owner): Promise<void> {
  if (owner.uid !== undefined && owner.gid !== undefined) await chown(target, owner.uid, owner.gid);
}

/**
 * Copies a running cluster's data directory. Files change, appear and vanish while it is copied: that is
 * what the backup's WAL repairs, so a file gone before it was read is simply not copied.
 */
async function copyCluster(from: string, to: string, owner: Owner, top = true): Promise<void> {
  await mkdir(to, { mode: 0o700 });
  await owned(to, owner);
  let entries;
  try {
    entries = await readdir(from, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  for (const entry of entries) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.name.startsWith('pgsql_tmp') || entry.name === 'pg_internal.init' || (top && SKIPPED_FILES.has(entry.name))) continue;
    if (entry.isSymbolicLink()) throw new Error(`cannot copy ${source}: tablespaces outside the data directory are not supported`);
    if (entry.isDirectory()) {
      if (top && EMPTIED_DIRECTORIES.has(entry.name)) {
        await mkdir(target, { mode: 0o700 });
        await owned(target, owner);
      } else {
        await copyCluster(source, target, owner, false);
      }
      continue;
    }
    try {
      await copyFile(source, target);
      await owned(target, owner);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/** A value as postgresql.conf quotes it. */
const confString = (value: string) => `'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
/** A value as a libpq connection string quotes it. */
const conninfoValue = (value: string) => `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

/** Lets the owner connect for replication from 127.0.0.1, unless pg_hba.conf already does (initdb's default does). */
async function allowReplication(primary: pg.Client, user: string): Promise<void> {
  const { rows } = await primary.query<{ allowed: boolean; file: string }>(
    `SELECT EXISTS (SELECT 1 FROM pg_hba_file_rules
                    WHERE type = 'host' AND 'replication' = ANY(database) AND ('all' = ANY(user_name) OR $1 = ANY(user_name))
                      AND address = '127.0.0.1' AND error IS NULL) AS allowed,
            current_setting('hba_file') AS file`,
    [user],
  );
  if (rows[0]?.allowed) return;
  await appendFile(
    rows[0]?.file as string,
    `\n# A streaming replica of this server (shared-db/src/replica.ts).\nhost replication ${user} 127.0.0.1/32 scram-sha-256\n`,
  );
  await primary.query('SELECT pg_reload_conf()');
}

/**
 * Makes `dataDir` a standby of the primary: a physical slot reserved first (so the WAL from the backup's
 * start stays), `pg_backup_start`, a copy of the primary's data directory, `pg_backup_stop` (whose label
 * file tells the replica where replay must begin), then `standby.signal` and the primary's address.
 */
async function baseBackup(primaryUrl: string, dataDir: string, slot: string, owner: Owner): Promise<void> {
  const primary = new pg.Client({ connectionString: primaryUrl });
  primary.on('error', () => undefined);
  await primary.connect();
  try {
    const { rows } = await primary.query<{ data_directory: string; wal_level: string; max_wal_senders: number }>(
      `SELECT current_setting('data_directory') AS data_directory, current_setting('wal_level') AS wal_level,
              current_setting('max_wal_senders')::int AS max_wal_senders`,
    );
    const settings = rows[0] as (typeof rows)[number];
    if (settings.wal_level === 'minimal' || settings.max_wal_senders < 1) {
      throw new Error(`the primary cannot stream its WAL (wal_level=${settings.wal_level}, max_wal_senders=${settings.max_wal_senders})`);
    }
    const conninfo = new URL(primaryUrl);
    const user = decodeURIComponent(conninfo.username);
    await allowReplication(primary, user);
    await primary.query('SELECT pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)', [
      slot,
    ]);
    // A non-exclusive backup: it belongs to this session, and ends with it if the copy fails.
    await primary.query('SELECT pg_backup_start($1, true)', [`replica ${slot}`]);
    await copyCluster(settings.data_directory, dataDir, owner);
    // Archiving is not on, so nothing to wait for: the replica takes the WAL from the slot.
    const { rows: stopped } = await primary.query<{ labelfile: string; spcmapfile: string | null }>('SELECT labelfile, spcmapfile FROM pg_backup_stop(false)');
    const label = stopped[0] as (typeof stopped)[number];
    const files: [string, string][] = [
      ['backup_label', label.labelfile],
      ['standby.signal', ''],
      ...(label.spcmapfile ? [['tablespace_map', label.spcmapfile] as [string, string]] : []),
    ];
    for (const [name, content] of files) {
      await writeFile(path.join(dataDir, name), content, { mode: 0o600 });
      await owned(path.join(dataDir, name), owner);
    }
    const primaryConninfo = [
      `host=${conninfoValue(conninfo.hostname)}`,
      `port=${conninfoValue(conninfo.port || '5432')}`,
      `user=${conninfoValue(user)}`,
      `password=${conninfoValue(decodeURIComponent(conninfo.password))}`,
      `application_name=${conninfoValue(slot)}`,
    ].join(' ');
    await appendFile(
      path.join(dataDir, 'postgresql.auto.conf'),
      `primary_conninfo = ${confString(primaryConninfo)}\nprimary_slot_name = ${confString(slot)}\n`,
    );
  } finally {
    await primary.end();
  }
}

/**
 * The physical replication slot on the primary that a replica on `port` streams through: it keeps the WAL
 * the replica has yet to receive, so that a replica stopped for a while catches up instead of needing a
 * new base backup.
 */
const slotFor = (port: number) => `fedstack_replica_${port}`;

/**
 * Drops a replica's slot on the primary, if the primary answers and nobody streams from it: a replica that
 * no longer runs would otherwise make the primary keep its WAL for good.
 */
export async function dropReplicaSlot(primaryUrl: string, port: number): Promise<void> {
  const primary = new pg.Client({ connectionString: primaryUrl, connectionTimeoutMillis: 2000 });
  primary.on('error', () => undefined);
  try {
    await primary.connect();
    await primary.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slotFor(port)]);
  } catch {
    // The primary is gone too: its slots went with it (an ephemeral primary) or stay for the next replica.
  } finally {
    await primary.end().catch(() => undefined);
  }
}

async function hasSlot(primaryUrl: string, slot: string): Promise<boolean> {
  const primary = new pg.Client({ connectionString: primaryUrl });
  primary.on('error', () => undefined);
  await primary.connect();
  try {
    return (await primary.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot])).rowCount === 1;
  } finally {
    await primary.end();
  }
}

/**
 * Starts a streaming replica of a running embedded primary on `port`, making it first when `dataDir` holds
 * none (a base backup, as above; the same binaries, the same owner and password). It answers reads, with
 * `pg_is_in_recovery()` true, and follows the primary through the slot.
 */
export async function startEmbeddedReplica(options: EmbeddedReplicaOptions): Promise<RunningPostgres> {
  const slot = slotFor(options.port);
  const made = existsSync(path.join(options.dataDir, 'PG_VERSION'));
  // Promoted (pg_promote(), a failover drill), it is a primary of its own that has left this one's
  // history; PostgreSQL takes standby.signal away as it promotes. The services refused it as a replica.
  const promoted = made && !existsSync(path.join(options.dataDir, 'standby.signal'));
  if (promoted && runningServer(options.dataDir)) {
    throw new StartupError(
      `the embedded PostgreSQL's replica in ${options.dataDir} was promoted and runs as a primary of its own: stop it (pg_ctl stop -D ${options.dataDir}), and the next start makes a new replica`,
    );
  }
  // As is a replica whose slot is gone, which may need WAL the primary no longer has: either is made anew.
  if (promoted || (made && !(await hasSlot(options.primaryUrl, slot)))) {
    await rm(options.dataDir, { recursive: true, force: true });
  }
  const server = await startEmbeddedPostgres({
    dataDir: options.dataDir,
    port: options.port,
    label: `the embedded PostgreSQL's replica`,
    create: (dataDir, owner) =>
      baseBackup(options.primaryUrl, dataDir, slot, owner).catch(async (error: unknown) => {
        // Half a copy is no replica: the next start makes a new one.
        await rm(dataDir, { recursive: true, force: true });
        throw error;
      }),
    settings: options.applyDelayMs === undefined ? {} : { recovery_min_apply_delay: `${options.applyDelayMs}ms` },
    ...(options.ephemeral ? { ephemeral: true } : {}),
    ...(options.detached ? { detached: true } : {}),
    ...(options.onLog ? { onLog: options.onLog } : {}),
  });
  if (!options.ephemeral) return server;
  return {
    ...server,
    async stop() {
      await server.stop();
      await dropReplicaSlot(options.primaryUrl, options.port);
    },
  };
}
