// The profile subgraph's resolvers: a user's profile, and updateMyProfile.
import type { ProfileRecord } from '@fedstack/shared-db';
import { entityReference, requireSelfOrAdmin, requireViewer, scalarsFor } from '@fedstack/service-kit';
import { saveProfile, validateProfileChanges } from './domain/profiles';
import type { Profile, Resolvers } from './generated/resolvers-types';

const EMPTY_PROFILE: Profile = { displayName: null, bio: null, avatarUrl: null, locale: null, timezone: null, updatedAt: null };

function toProfile(record: ProfileRecord | null): Profile {
  if (!record) return EMPTY_PROFILE;
  const { displayName, bio, avatarUrl, locale, timezone, updatedAt } = record;
  return { displayName, bio, avatarUrl, locale, timezone, updatedAt };
}

export const resolvers: Resolvers = {
  ...scalarsFor('DateTime', 'URL', 'Locale', 'TimeZone'),

  Mutation: {
    async updateMyProfile(_parent, { input }, ctx) {
      const viewer = requireViewer(ctx.auth);
      const changes = validateProfileChanges(input);
      return toProfile(await saveProfile(ctx.db, viewer.userId, changes));
    },
  },

  User: {
    __resolveReference: (reference) => entityReference(reference),
    async profile(user, _args, ctx) {
      requireSelfOrAdmin(ctx.auth, user.id, "a user's profile");
      return toProfile(await ctx.loaders.profile.load(user.id));
    },
  },
};
