// Settings come from environment variables, read once at start by each process from a declared list
// (zod schemas, with the wording of this module's helpers): a setting that cannot work stops the process
// with one line that names it. The same declarations write the README's settings table
// (`npm run docs:settings`), and a test checks that the code reads no variable the table does not list.
import { readFileSync } from 'node:fs';
import { distance } from 'fastest-levenshtein';
import { z } from 'zod';
import { ConfigError, excerpt } from './errors';

export interface Setting<T> {
  /** Parses the variable's text (undefined when unset or empty) into its value, or says what is wrong. */
  readonly schema: z.ZodType<T, string | undefined>;
  /** What the setting does, for the README. */
  readonly description: string;
  /** The default as the README shows it: its own words where given, else the schema's default; empty when there is none. */
  readonly shown: string;
  /** The words given for the default, if any (a check makes sure they never just repeat the schema's default). */
  readonly shownAs: string | undefined;
}

export type SettingsOf<S extends Record<string, Setting<unknown>>> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

/** The default a schema made by this module's helpers falls back to, as the README shows it. */
export function shownDefault(schema: z.ZodType<unknown, string | undefined>): string {
  const shown = schema.meta()?.shownDefault;
  return typeof shown === 'string' ? shown : '';
}

/**
 * Declares one setting. Its default is the schema's (written once, in the schema); `shownAs` describes
 * the default in other words where the value alone would mislead (`'on outside production'`).
 */
export function setting<T>(schema: z.ZodType<T, string | undefined>, description: string, shownAs?: string): Setting<T> {
  return { schema, description, shown: shownAs ?? shownDefault(schema), shownAs };
}

/**
 * The variables of `env` that are none of `known` but a slip away from one (two letters, or its case):
 * a misspelt setting is otherwise ignored, as if it were not there, and its default silently kept.
 */
export function misspeltSettings(env: NodeJS.ProcessEnv, known: readonly string[]): { given: string; meant: string }[] {
  const names = new Set(known);
  return Object.keys(env).flatMap((given) => {
    if (names.has(given) || given.length < 6) return [];
    const meant = known.find((name) => distance(given.toUpperCase(), name) <= 2);
    return meant ? [{ given, meant }] : [];
  });
}

/**
 * Reads the settings named by `settings` from `env`. An empty variable counts as unset. The first one
 * that cannot be read stops with a ConfigError: `<NAME> <what is wrong> (got "<value>")`.
 */
export function readSettings<S extends Record<string, Setting<unknown>>>(env: NodeJS.ProcessEnv, settings: S): SettingsOf<S> {
  const values: Record<string, unknown> = {};
  for (const [name, { schema }] of Object.entries(settings)) {
    const raw = env[name] === '' ? undefined : env[name];
    const parsed = schema.safeParse(raw);
    if (!parsed.success) throw new ConfigError(`${name} ${parsed.error.issues[0]?.message ?? 'is not valid'}`);
    values[name] = parsed.data;
  }
  return values as SettingsOf<S>;
}

/** Reads one variable whose name is worked out (`AUTH_DB_PASSWORD`…), as `readSettings` would. */
export function readSetting<T>(env: NodeJS.ProcessEnv, name: string, declared: Setting<T>): T {
  return readSettings(env, { [name]: declared })[name] as T;
}

const got = (raw: string) => `(got "${excerpt(raw, 100)}")`;

/**
 * A setting parsed from its text by `parse` (undefined: not valid, reported as `problem` with the text),
 * or `fallback` when unset; the README shows that fallback as `show` gives it.
 */
function parsed<T, F extends T | undefined>(
  parse: (raw: string) => T | undefined,
  problem: string,
  fallback: F,
  show: (value: T) => string = (value) => `\`${String(value)}\``,
): z.ZodType<T | F, string | undefined> {
  const schema = z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return fallback;
      const value = parse(raw);
      if (value !== undefined) return value;
      ctx.addIssue({ code: 'custom', message: `${problem} ${got(raw)}` });
      return z.NEVER;
    });
  return fallback === undefined || fallback === '' ? schema : schema.meta({ shownDefault: show(fallback) });
}

/** Numbers are shown as they are, without code formatting. */
const plainNumber = (value: number) => String(value);

/** The text as it is, or `fallback` when unset. */
export function text(fallback: string): z.ZodType<string, string | undefined>;
export function text(): z.ZodType<string | undefined, string | undefined>;
export function text(fallback?: string): z.ZodType<string | undefined, string | undefined> {
  return parsed((raw) => raw, '', fallback);
}

/** The text as it is, if `valid` takes it (reported as `problem` otherwise); unset is undefined. */
export function textWhere(valid: (raw: string) => boolean, problem: string): z.ZodType<string | undefined, string | undefined> {
  return parsed((raw) => (valid(raw) ? raw : undefined), problem, undefined);
}

/** The whole number the text says, if it is one from `min` to `max`. */
function wholeNumber(raw: string, min: number, max: number): number | undefined {
  const value = Number(raw);
  return Number.isInteger(value) && value >= min && value <= max ? value : undefined;
}

/** A whole number from `min` (1 unless given) to `max`, or `fallback` when unset. */
export function integer(fallback: number, limits: { min?: number; max?: number } = {}): z.ZodType<number, string | undefined> {
  const { min = 1, max = Number.MAX_SAFE_INTEGER } = limits;
  return parsed((raw) => wholeNumber(raw, min, max), `must be a whole number from ${min} to ${max}`, fallback, plainNumber);
}

/** A TCP port; 0 lets the operating system choose a free one (tests). Unset is `fallback`, or undefined. */
export function port(fallback: number): z.ZodType<number, string | undefined>;
export function port(): z.ZodType<number | undefined, string | undefined>;
export function port(fallback?: number): z.ZodType<number | undefined, string | undefined> {
  return parsed((raw) => wholeNumber(raw, 0, 65535), 'must be a port number from 0 to 65535', fallback, plainNumber);
}

/** true/1 or false/0, or `fallback` when unset. */
export function flag(fallback: boolean): z.ZodType<boolean, string | undefined> {
  return parsed((raw) => ({ true: true, '1': true, false: false, '0': false })[raw], 'must be true or false', fallback);
}

/** One of `allowed`, or `fallback` when unset (undefined without one: a default that depends on other settings). */
export function choice<T extends string>(allowed: readonly T[], fallback: T): z.ZodType<T, string | undefined>;
export function choice<T extends string>(allowed: readonly T[]): z.ZodType<T | undefined, string | undefined>;
export function choice<T extends string>(allowed: readonly T[], fallback?: T): z.ZodType<T | undefined, string | undefined> {
  return parsed((raw) => allowed.find((value) => value === raw), `must be one of ${allowed.join(', ')}`, fallback);
}

/** Checks an http(s) URL and returns it normalised, or undefined when it is not one. */
function asHttpUrl(raw: string): string | undefined {
  if (!URL.canParse(raw)) return undefined;
  const url = new URL(raw);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.toString() : undefined;
}

/** An http(s) URL, normalised; unset is undefined. */
export function httpUrl(): z.ZodType<string | undefined, string | undefined> {
  return parsed(asHttpUrl, 'is not a valid http(s) URL', undefined);
}

/** One row of the README's settings table: the variables that share a meaning, and who reads them. */
export interface SettingRow {
  names: string[];
  shown: string;
  description: string;
  readBy: string[];
}

/**
 * The README's table, from every process's declarations: variables with the same meaning (AUTH_PORT,
 * PROFILE_PORT…) share a row, in the order first declared.
 */
export function settingsTable(processes: { name: string; settings: Record<string, Setting<unknown>> }[]): SettingRow[] {
  const rows = new Map<string, SettingRow>();
  for (const { name: process, settings } of processes) {
    for (const [name, { description, shown }] of Object.entries(settings)) {
      const key = `${description}\u0000${shown}`;
      const row = rows.get(key) ?? { names: [], shown, description, readBy: [] };
      if (!row.names.includes(name)) row.names.push(name);
      if (!row.readBy.includes(process)) row.readBy.push(process);
      rows.set(key, row);
    }
  }
  return [...rows.values()];
}

/** Reads a file a setting names (a container secret), failing with the setting's name. */
function settingFile(file: string, name: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${name} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}: ${file})`);
  }
}

/**
 * A secret given either as `<NAME>` (its value) or `<NAME>_FILE` (a file holding it, as container secrets
 * are mounted), with the setting it came from; undefined when neither is set.
 */
export function secretSetting(env: NodeJS.ProcessEnv, name: string): { value: string; setting: string } | undefined {
  const values = readSettings(env, { [name]: setting(text(), ''), [`${name}_FILE`]: setting(text(), '') });
  const value = values[name];
  if (value) return { value, setting: name };
  const file = values[`${name}_FILE`];
  return file ? { value: settingFile(file, `${name}_FILE`), setting: `${name}_FILE` } : undefined;
}
