import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { REPOSITORY_ROOT, settingsTable, shownDefault } from '@fedstack/runtime';
import { settingsByProcess, withSettingsTable } from './settings-table';

const README = path.join(REPOSITORY_ROOT, 'README.md');

/** Every TypeScript and JavaScript file we wrote: sources, tests, scripts; not generated or installed code. */
function ourSources(): string[] {
  const skip = new Set(['node_modules', 'dist', 'generated', '.git', '.data', 'coverage']);
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (skip.has(entry.name)) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.(ts|js|cjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) files.push(full);
    }
  };
  walk(REPOSITORY_ROOT);
  return files;
}

/** Variables read as `env.NAME`, `process.env.NAME` or `env['NAME']`. */
function variablesRead(source: string): string[] {
  return [...source.matchAll(/\benv(?:\.([A-Z][A-Z0-9_]+)\b|\[\s*['"]([A-Z][A-Z0-9_]+)['"]\s*\])/g)].map((match) => (match[1] ?? match[2]) as string);
}

/**
 * Variables declared as settings (`NAME: setting(…)`): one declared in a module the table does not read
 * (a process's first settings) was read at start and missing from the README, `docs:settings` saying all was well.
 */
function settingsDeclared(source: string): string[] {
  return [...source.matchAll(/\b([A-Z][A-Z0-9_]+):\s*(?:setting|secretSetting)\(/g)].map((match) => match[1] as string);
}

// Read from the environment but not settings: the system's PATH, passed on to child processes, the
// service prisma-offline.js tells prisma.config.ts to work on, what the test harness alone reads (the
// Jest worker's number, and the run's databases that test/global-setup.ts hands the workers), the
// option of argon2's built-in allocator that shared-db's passwords.ts sets for it (docs/performance.md),
// and Node's compile cache, which the launcher and prisma-offline.js pass on (README, "Starting again"),
// and Node's own options, to which the benchmark adds an inspector for its gateway.
const NOT_SETTINGS = new Set([
  'PATH',
  'PRISMA_SERVICE',
  'JEST_WORKER_ID',
  'TEST_DATABASE_TEMPLATES',
  'MIMALLOC_PURGE_DELAY',
  'NODE_COMPILE_CACHE',
  'NODE_OPTIONS',
]);

const row = (name: string) => settingsTable(settingsByProcess()).find((entry) => entry.names.includes(name));

describe("the README's settings table", () => {
  it('is what `npm run docs:settings` writes from the declarations', () => {
    const readme = readFileSync(README, 'utf8');
    expect(withSettingsTable(readme)).toBe(readme);
  });

  // A process's settings reach the table through tools/src/settings-table.ts's settingsByProcess (CONTRIBUTING.md, "A setting").
  it('lists every variable the code reads or declares', () => {
    const documented = new Set(settingsTable(settingsByProcess()).flatMap((row) => row.names));
    // This file's own examples are not reads.
    const undocumented = ourSources()
      .filter((file) => file !== __filename)
      .flatMap((file) => {
        const source = readFileSync(file, 'utf8');
        // Tests declare settings of their own to try the declarations.
        return [...variablesRead(source), ...(file.endsWith('.test.ts') ? [] : settingsDeclared(source))]
          .filter((name) => !documented.has(name) && !NOT_SETTINGS.has(name))
          .map((name) => `${path.relative(REPOSITORY_ROOT, file)}: ${name}`);
      });
    expect(undocumented).toEqual([]);
  });

  it('finds the reads it looks for', () => {
    expect(variablesRead("const a = process.env.SOME_URL; env['OTHER'] ?? env.THIRD_ONE; env.lower")).toEqual(['SOME_URL', 'OTHER', 'THIRD_ONE']);
    expect(settingsDeclared("{ PROFILE_BIO_MAX_CHARS: setting(integer(160), 'a bio'), KEY: secretSetting('a key'), lower: setting(text()) }")).toEqual([
      'PROFILE_BIO_MAX_CHARS',
      'KEY',
    ]);
  });

  it('says which process reads each setting, with one row per meaning', () => {
    expect(row('AUTH_PORT')?.names).toEqual(['GATEWAY_PORT', 'AUTH_PORT', 'PROFILE_PORT', 'PAYMENTS_PORT', 'ADMIN_PORT']);
    expect(row('JWT_PRIVATE_KEY')?.readBy).toEqual(['auth']);
    expect(row('MAX_QUERY_COST')?.readBy).toEqual(['gateway', '`check:schema`']);
    expect(row('DB_POOL_SIZE')?.readBy).toEqual(['auth', 'profile', 'payments', 'admin']);
  });

  it("writes each default once, in its schema: no declaration repeats it as the README's words", () => {
    const repeated = settingsByProcess().flatMap(({ settings }) =>
      Object.entries(settings)
        .filter(([, declared]) => declared.shownAs !== undefined && declared.shownAs === shownDefault(declared.schema))
        .map(([name]) => name),
    );
    expect(repeated).toEqual([]);
    expect(row('OUTBOX_POLL_MS')?.shown).toBe('1000');
    expect(row('JWT_ISSUER')?.shown).toBe('`fedstack-auth`');
    expect(row('INTROSPECTION')?.shown).toBe('on outside production');
  });
});
