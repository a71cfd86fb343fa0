// Profiles: their fields checked, read in batches, saved, and erased.
import { badUserInput, excerpt } from '@fedstack/runtime';
import type { PreparedStatement, ProfileRecord, ServiceClient } from '@fedstack/shared-db';
import { batchLoader, guardAccountWrite, isUuid, type ErasureChange, type RawExecutor, type StaleRead, type ViewerRow } from '@fedstack/service-kit';
import type { UpdateProfileInput } from '../generated/resolvers-types';

type ProfileDb = ServiceClient<'profile'>;

export const LIMITS = { displayName: 80, bio: 500, avatarUrl: 2048 } as const;

/** What an update sets: a value, or null to clear; fields left out are absent. */
/** The fields a profile's owner may change (each a text column): the save's statement is written from this list. */
const SAVED_FIELDS = ['displayName', 'bio', 'avatarUrl', 'locale', 'timezone'] as const;

export type ProfileChanges = Partial<Record<(typeof SAVED_FIELDS)[number], string | null>>;

function text(value: string, field: string, max: number, min = 0): string {
  const trimmed = value.trim();
  const length = [...trimmed].length;
  if (length < min || length > max) throw badUserInput(field, `must be ${min} to ${max} characters (got ${length})`);
  // Control characters (Unicode Cc) other than tab and line breaks.
  if (/(?![\t\n\r])\p{Cc}/u.test(trimmed)) throw badUserInput(field, 'must not contain control characters');
  return trimmed;
}

function avatarUrl(value: string, field: string): string {
  const tooLong = () => badUserInput(field, `must be at most ${LIMITS.avatarUrl} characters, as stored (escaped, in ASCII)`);
  if (value.length > LIMITS.avatarUrl) throw tooLong();
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw badUserInput(field, `must be an absolute http(s) URL (got "${excerpt(value, 100)}")`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw badUserInput(field, `must use http or https (got ${url.protocol})`);
  // What is stored is the URL written out, escaped: 994 characters of CJK text became 8,754.
  const stored = url.toString();
  if (stored.length > LIMITS.avatarUrl) throw tooLong();
  return stored;
}

function locale(value: string, field: string): string {
  try {
    const [canonical] = Intl.getCanonicalLocales(value.trim());
    if (canonical) return canonical;
  } catch {
    // Falls through to the error below.
  }
  throw badUserInput(field, `must be a BCP 47 language tag such as "en-GB" (got "${excerpt(value, 100)}")`);
}

/**
 * A named time zone the runtime's time zone data knows, by its current IANA name or an older alias.
 * ICU's list (Intl.supportedValuesOf) holds the older names only, and refused Asia/Kolkata and
 * Europe/Kyiv: a name ICU knows under another is kept as given. One it knows as itself is kept as ICU
 * writes it: Intl takes any case ("europe/PARIS"), and clients whose time zone libraries do not (Java's
 * ZoneId) would refuse it. Offsets (`+05:30`), which Intl now takes too, are no IANA names.
 */
function timezone(value: string, field: string): string {
  const zone = value.trim();
  try {
    if (/^[A-Za-z]/.test(zone)) {
      const known = new Intl.DateTimeFormat('en', { timeZone: zone }).resolvedOptions().timeZone;
      return known.toLowerCase() === zone.toLowerCase() ? known : zone;
    }
  } catch {
    // Falls through to the error below.
  }
  throw badUserInput(field, `must be an IANA time zone such as "Europe/Paris" (got "${excerpt(zone, 100)}")`);
}

/** Validates every field before anything is written; the first problem is reported with its field. */
export function validateProfileChanges(input: UpdateProfileInput): ProfileChanges {
  const changes: ProfileChanges = {};
  const field = (name: keyof ProfileChanges, parse: (value: string, field: string) => string) => {
    const value = input[name];
    if (value === undefined) return;
    changes[name] = value === null ? null : parse(value, `input.${name}`);
  };
  field('displayName', (value, name) => text(value, name, LIMITS.displayName, 1));
  field('bio', (value, name) => text(value, name, LIMITS.bio));
  field('avatarUrl', avatarUrl);
  field('locale', locale);
  field('timezone', timezone);
  return changes;
}

/** A ProfileRecord's fields, as columns of profile.profiles under the alias `p`. */
const PROFILE_COLUMNS = {
  userId: 'p.user_id',
  displayName: 'p.display_name',
  bio: 'p.bio',
  avatarUrl: 'p.avatar_url',
  locale: 'p.locale',
  timezone: 'p.timezone',
  createdAt: 'p.created_at',
  updatedAt: 'p.updated_at',
} as const satisfies ViewerRow<ProfileRecord>['columns'];

const PROFILE_FIELDS = Object.entries(PROFILE_COLUMNS)
  .map(([field, column]) => `${column} AS "${field}"`)
  .join(', ');

/**
 * The viewer's profile, read by the request's account check: the viewer's own profile is what most
 * requests that reach profile ask for (docs/performance.md).
 */
export const VIEWER_PROFILE: ViewerRow<ProfileRecord> = {
  join: 'LEFT JOIN profile.profiles p ON p.user_id = $1::uuid',
  columns: PROFILE_COLUMNS,
  key: 'userId',
};

/** Profiles by user id: prepared (see ServiceClient.sql). */
const PROFILES_BY_USER: PreparedStatement = {
  name: 'profiles_by_user',
  text: `SELECT ${PROFILE_FIELDS} FROM profile.profiles p WHERE p.user_id = ANY($1::uuid[])`,
};

/**
 * Loads profiles by user id for one request: one SQL statement per batch, from a replica when one has the
 * client's writes; the viewer's, when the account check read it, without one.
 */
export function createProfileLoader(read: StaleRead, viewer?: { userId: string; profile: ProfileRecord | null }) {
  const loader = batchLoader<string, ProfileRecord>(
    (userIds) => read<ProfileRecord>(PROFILES_BY_USER, [userIds.filter(isUuid)]),
    (profile) => profile.userId,
    null,
  );
  return viewer ? loader.prime(viewer.userId, viewer.profile) : loader;
}

/** A saved field's column, without the alias. */
const column = (field: (typeof SAVED_FIELDS)[number]) => PROFILE_COLUMNS[field].replace(/^p\./, '');

/**
 * Creates a profile or changes the given fields of one, in one statement: for each field, whether it was
 * given and its value (null clears it). Prepared, past Prisma (docs/adr/0009-hot-path-reads.md): the save
 * was most of updateMyProfile's cost.
 */
const SAVE_PROFILE: PreparedStatement = {
  name: 'save_profile',
  text: `INSERT INTO profile.profiles AS p (user_id, ${SAVED_FIELDS.map(column).join(', ')}, updated_at)
         VALUES ($1::uuid, ${SAVED_FIELDS.map((_, index) => `$${2 * index + 3}::text`).join(', ')}, now())
         ON CONFLICT (user_id) DO UPDATE SET
           ${SAVED_FIELDS.map((field, index) => `${column(field)} = CASE WHEN $${2 * index + 2}::boolean THEN EXCLUDED.${column(field)} ELSE p.${column(field)} END`).join(', ')},
           updated_at = now()
         RETURNING ${PROFILE_FIELDS}`,
};

/** Creates the profile on first save; otherwise changes only the given fields. Never for an erased account. */
export function saveProfile(db: ProfileDb, userId: string, changes: ProfileChanges): Promise<ProfileRecord> {
  return db.sqlTransaction(async (tx) => {
    await guardAccountWrite(tx, 'profile', userId);
    const values = SAVED_FIELDS.flatMap((field) => [field in changes, changes[field] ?? null]);
    const [saved] = await tx.sql<ProfileRecord>(SAVE_PROFILE, [userId, ...values]);
    return saved as ProfileRecord;
  });
}

/** profile's part of an erasure: the profile goes (inside the erase command's transaction). */
export async function eraseProfile(tx: RawExecutor, userId: string): Promise<ErasureChange[]> {
  return [{ table: 'profiles', action: 'deleted', rows: await tx.$executeRawUnsafe('DELETE FROM profile.profiles WHERE user_id = $1::uuid', userId) }];
}
