// The README's settings table, written from the settings every process and command declares.
import { adminSettings } from '@fedstack/admin';
import { authSettings } from '@fedstack/auth';
import { paymentsSettings } from '@fedstack/payments';
import { profileSettings } from '@fedstack/profile';
import { BENCH_SETTINGS } from '@fedstack/bench';
import { CLIENT_SETTINGS } from '@fedstack/example-client';
import { OPERATION_LIMIT_SETTINGS, SCHEMA_CHECK_SETTINGS, gatewaySettings } from '@fedstack/gateway';
import { SERVICES, setting, settingsTable, text, type Setting, type SettingRow } from '@fedstack/runtime';
import { LAUNCHER_READS } from '@fedstack/scripts';
import { DATABASE_SETTINGS, EMBEDDED_REPLICA_SETTINGS, EMBEDDED_SETTINGS, SHARED_DATABASE_SETTINGS } from '@fedstack/shared-db';

/** Every process and command, with every environment variable it reads. */
export function settingsByProcess(): { name: string; settings: Record<string, Setting<unknown>> }[] {
  return [
    { name: 'gateway', settings: gatewaySettings() },
    { name: 'auth', settings: authSettings() },
    { name: 'profile', settings: profileSettings() },
    { name: 'payments', settings: paymentsSettings() },
    { name: 'admin', settings: adminSettings() },
    { name: '`npm start`', settings: LAUNCHER_READS },
    { name: '`db:*`', settings: { ...DATABASE_SETTINGS, ...EMBEDDED_SETTINGS } },
    {
      name: '`npm test`',
      settings: {
        ...SHARED_DATABASE_SETTINGS,
        ...EMBEDDED_REPLICA_SETTINGS,
        CHROMIUM_PATH: setting(text('/usr/bin/chromium'), "the Chromium that the explorer's browser test drives (skipped, saying so, when there is none)"),
      },
    },
    { name: '`check:schema`', settings: { ...SCHEMA_CHECK_SETTINGS, ...OPERATION_LIMIT_SETTINGS } },
    { name: '`bench`', settings: BENCH_SETTINGS },
    { name: '`npm run client`', settings: CLIENT_SETTINGS },
  ];
}

/** "auth, profile, payments, admin" reads better as "every subgraph". */
function readers(row: SettingRow): string {
  const subgraphs = SERVICES.every((service) => row.readBy.includes(service));
  const others = row.readBy.filter((name) => !(subgraphs && (SERVICES as readonly string[]).includes(name)));
  return [...(subgraphs ? ['every subgraph'] : []), ...others].join(', ');
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The README's settings table, as Markdown. */
export function renderSettingsTable(): string {
  const rows = settingsTable(settingsByProcess());
  return [
    '| variable | default | meaning | read by |',
    '| --- | --- | --- | --- |',
    ...rows.map(
      (row) => `| ${row.names.map((name) => `\`${name}\``).join(', ')} | ${row.shown ? cell(row.shown) : '—'} | ${cell(row.description)} | ${readers(row)} |`,
    ),
  ].join('\n');
}

export const TABLE_START = '<!-- settings table: written by `npm run docs:settings` from the code; edit the declarations, not this -->';
export const TABLE_END = '<!-- end of settings table -->';

/** The README with its settings table replaced by the current one. */
export function withSettingsTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`README.md has no settings table markers (${TABLE_START} … ${TABLE_END})`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${renderSettingsTable()}\n${readme.slice(end)}`;
}
