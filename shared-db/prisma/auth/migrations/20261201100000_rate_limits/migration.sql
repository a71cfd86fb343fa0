-- Sign-in and registration throttling moves to rate-limiter-flexible's layout (key, points, expire):
-- the old per-email counters are dropped, which at worst gives a locked account or address its
-- attempts back once.

-- DropTable
DROP TABLE "auth"."login_throttles";

-- CreateTable
CREATE TABLE "auth"."rate_limits" (
    "key" TEXT NOT NULL,
    "points" INTEGER NOT NULL,
    "expire" TIMESTAMPTZ(3),

    CONSTRAINT "rate_limits_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE INDEX "rate_limits_expire_idx" ON "auth"."rate_limits"("expire");

