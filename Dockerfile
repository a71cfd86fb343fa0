# One image per fedstack process, built from shared stages: `docker build --target <process> .`, for the
# targets gateway, auth, profile, payments, admin, migrate and keys (a plain `docker build .` makes the
# last, the gateway). Each holds its workspace's production dependencies and nothing else installed: the
# gateway's image has no Prisma, pg or argon2, and none has the embedded PostgreSQL or what only the
# tests, the benchmark and the build use. docker-compose.yml builds each service's target;
# docs/containers.md lists what each image holds and its size.

# Every workspace's manifest and the lockfile, alone, so that the install layers below are rebuilt only
# when one of them changes. npm ci needs every workspace's package.json, even to install one workspace.
FROM node:24-bookworm-slim AS manifests
WORKDIR /app
COPY package.json package-lock.json ./
COPY runtime/package.json runtime/
COPY shared-db/package.json shared-db/
COPY service-kit/package.json service-kit/
COPY subgraphs/auth/package.json subgraphs/auth/
COPY subgraphs/profile/package.json subgraphs/profile/
COPY subgraphs/payments/package.json subgraphs/payments/
COPY subgraphs/admin/package.json subgraphs/admin/
COPY gateway/package.json gateway/
COPY scripts/package.json scripts/
COPY bench/package.json bench/
COPY tools/package.json tools/
COPY clients/web/package.json clients/web/

# The compiled workspaces (tsconfig.dist.json), which the images below copy their dist/ folders from.
# Every install here and below is without install scripts, as on the machines the project is developed
# on: Prisma's would download native engines from a host other than the npm registry, and the project
# runs Prisma on its WebAssembly engine. Native code (argon2) comes prebuilt in registry packages.
FROM manifests AS build
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build:dist

# Each process's dependencies: its workspace's production tree from the lockfile, and only that. npm ci
# --workspace installs what that workspace depends on, with the links to the workspaces among them;
# --omit=dev leaves out every development dependency, the embedded PostgreSQL included.
FROM manifests AS gateway-modules
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace gateway

FROM manifests AS auth-modules
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace subgraphs/auth

FROM manifests AS profile-modules
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace subgraphs/profile

FROM manifests AS payments-modules
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace subgraphs/payments

FROM manifests AS admin-modules
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace subgraphs/admin

# Migrations, grants and demo data: shared-db's CLI, which runs Prisma's.
FROM manifests AS migrate-modules
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace shared-db

# The deployment's keys: scripts/dist/keys.js, beside the launcher in the scripts workspace.
FROM manifests AS keys-modules
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace scripts

# What every image starts from. The compose and Kubernetes commands resolve their files from /app.
FROM node:24-bookworm-slim AS base
ENV NODE_ENV=production
WORKDIR /app

# The long-running servers. Each mounts its own keys volume at /keys: Docker gives a new named volume the
# ownership of the directory it is mounted on, so whichever container mounts it first, the keys job,
# running as node, can write there.
FROM base AS server
RUN mkdir -p /keys && chown node:node /keys
USER node

# Each image below: its dependencies, the dist/ of each workspace among them, and the files its process
# reads at run time.

# What every subgraph runs on besides its own code: the builds of the libraries, a layer they share.
FROM server AS subgraph
COPY --from=build /app/runtime/dist runtime/dist
COPY --from=build /app/shared-db/dist shared-db/dist
COPY --from=build /app/service-kit/dist service-kit/dist

# A subgraph reads its SDL, and its migrations' names to refuse a database that lacks one.
FROM subgraph AS auth
COPY --from=auth-modules /app /app
COPY --from=build /app/subgraphs/auth/dist subgraphs/auth/dist
COPY subgraphs/auth/schema.graphql subgraphs/auth/
COPY shared-db/prisma/auth/migrations shared-db/prisma/auth/migrations/
CMD ["node", "--max-old-space-size=128", "--max-semi-space-size=4", "subgraphs/auth/dist/main.js"]

FROM subgraph AS profile
COPY --from=profile-modules /app /app
COPY --from=build /app/subgraphs/profile/dist subgraphs/profile/dist
COPY subgraphs/profile/schema.graphql subgraphs/profile/
COPY shared-db/prisma/profile/migrations shared-db/prisma/profile/migrations/
CMD ["node", "--max-old-space-size=128", "--max-semi-space-size=4", "subgraphs/profile/dist/main.js"]

FROM subgraph AS payments
COPY --from=payments-modules /app /app
COPY --from=build /app/subgraphs/payments/dist subgraphs/payments/dist
COPY subgraphs/payments/schema.graphql subgraphs/payments/
COPY shared-db/prisma/payments/migrations shared-db/prisma/payments/migrations/
CMD ["node", "--max-old-space-size=128", "--max-semi-space-size=4", "subgraphs/payments/dist/main.js"]

FROM subgraph AS admin
COPY --from=admin-modules /app /app
COPY --from=build /app/subgraphs/admin/dist subgraphs/admin/dist
COPY subgraphs/admin/schema.graphql subgraphs/admin/
COPY shared-db/prisma/admin/migrations shared-db/prisma/admin/migrations/
CMD ["node", "--max-old-space-size=128", "--max-semi-space-size=4", "subgraphs/admin/dist/main.js"]

# shared-db's own runner applies the migrations (ADR 0013); Prisma's CLI, for a history that is not a
# clean beginning of the committed migrations and for `db.js prisma`, runs on every service's schema and
# migrations through shared-db/scripts/, with prisma.config.ts and the workarounds it loads. Roles,
# migrations and grants by default; compose asks for `seed`, which adds the demo data.
FROM base AS migrate
COPY --from=migrate-modules /app /app
COPY --from=build /app/runtime/dist runtime/dist
COPY --from=build /app/shared-db/dist shared-db/dist
COPY shared-db/prisma shared-db/prisma/
COPY shared-db/scripts shared-db/scripts/
COPY shared-db/prisma.config.ts shared-db/
COPY shared-db/src/prisma-workarounds.js shared-db/src/
USER node
CMD ["node", "shared-db/dist/cli/db.js", "migrate"]

# One folder per process's keys volume, each node's, for the same reason as the servers' /keys.
FROM base AS keys
COPY --from=keys-modules /app /app
COPY --from=build /app/runtime/dist runtime/dist
COPY --from=build /app/shared-db/dist shared-db/dist
COPY --from=build /app/scripts/dist scripts/dist
RUN mkdir -p /keys/auth /keys/profile /keys/payments /keys/admin /keys/gateway && chown -R node:node /keys
USER node
CMD ["node", "scripts/dist/keys.js", "/keys"]

# The gateway reads the supergraph, unless SUPERGRAPH_FILE names another (Kubernetes mounts its own).
FROM server AS gateway
COPY --from=gateway-modules /app /app
COPY --from=build /app/runtime/dist runtime/dist
COPY --from=build /app/gateway/dist gateway/dist
COPY supergraph.graphql ./
CMD ["node", "gateway/dist/main.js"]
