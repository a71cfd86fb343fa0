-- What admins do no longer reads every user. Each action that may remove an admin first locks the
-- active admins (accounts.ts), and the admins' list of users filters by role and by e-mail prefix
-- (users.ts): the admins are a handful of rows in an index of their own, and a prefix needs an index in
-- code-point order (text_pattern_ops), which the unique index, in the database's collation, is not.
-- Both are partial, which keeps them out of Prisma's schema: Prisma 6 leaves partial indexes alone, and
-- reads an operator class back as differing from the one its schema writes (`ops: raw(...)` shows as
-- drift on every diff). Every row has an e-mail, so the second holds every row, and a LIKE on the column
-- implies its condition.
CREATE INDEX "users_admins_idx" ON "auth"."users"("created_at", "id") WHERE "role" = 'ADMIN';

CREATE INDEX "users_email_prefix_idx" ON "auth"."users"("email" text_pattern_ops) WHERE "email" IS NOT NULL;
