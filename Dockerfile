# Custody server image.
#
#   docker build -t custody-server:local .
#   docker run --env-file .env -e NANGO_DB_HOST=… -p 3003:3003 custody-server:local
#
# The image always talks to an external PostgreSQL (NANGO_DATABASE_URL or NANGO_DB_HOST …; see
# docker-compose.yml and docs/self-hosting.md). Every variable of .env.template is read from the
# environment at start; nothing is baked in except NODE_ENV. A bad value stops the container at once
# with one "Configuration error: …" line in its log.

# --- build: the sources → dist/ -----------------------------------------------------------------------
FROM docker.io/library/node:20-bookworm-slim AS build
LABEL org.opencontainers.image.title="custody-server"
WORKDIR /app
# Dependencies first, so a change to the sources alone reuses this layer.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --no-update-notifier
COPY . .
# The server (tsc → dist/src, dist/migrations) and the web UI (vite → dist/web).
RUN npm run build

# --- runtime: production dependencies, the compiled server, the provider catalog ----------------------
FROM docker.io/library/node:20-bookworm-slim
LABEL org.opencontainers.image.title="custody-server" \
      org.opencontainers.image.description="Self-hosted OAuth credential server, wire-compatible with Nango's self-hosted API" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=optional drops the @embedded-postgres/* binaries (about 60 MB): in a container the server
# always uses an external database. Without NANGO_DATABASE_URL / NANGO_DB_HOST it says so and exits.
# No dependency left needs an install script.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --no-update-notifier \
 && rm -rf /root/.npm /tmp/*
COPY --from=build /app/dist ./dist
COPY providers.yaml provider-logos.json ./
USER node
EXPOSE 3003
# Liveness, for restart decisions: /health answers whenever the process does, and never looks at the
# database (restarting the server would not bring a database back). Traffic decisions (a load balancer,
# Kubernetes' readinessProbe) use GET /ready instead; see docs/security.md.
# No curl in the slim image: Node's own fetch. SERVER_PORT (or PORT) as the server reads them.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SERVER_PORT||process.env.PORT||3003)+'/health').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"]
# Node is PID 1: the server handles SIGTERM itself (drains requests, closes the pool, exits 0). The flags are
# package.json's start script's (docs/performance.md, "How the figures are made"): a young generation of at
# most 2 × 4 MiB instead of 2 × 16 MiB keeps an idle server small, and no allocation-site pretenuring keeps
# each request's objects in the young generation, where they die.
CMD ["node", "--max-semi-space-size=4", "--no-allocation-site-pretenuring", "dist/src/server.js"]
