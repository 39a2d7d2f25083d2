#!/usr/bin/env bash
# The suite ignores the developer's own environment: a few representative spec files run in a copy of this
# clone that holds a .env of its own (the layout the README teaches), with hostile server, PostgreSQL-client
# and proxy variables exported. They must pass as they do in a clean shell. The copy keeps a developer's real
# .env untouched and is removed at the end.   bash test/hostile-environment.sh [spec files…]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
specs=("$@")
if [ ${#specs[@]} -eq 0 ]; then
  # Server processes (.env in the working directory, listen address, embedded database), the CLI (NANGO_HOSTPORT,
  # NANGO_SECRET_KEY), in-process test apps, the Nango SDK (axios honours proxy variables) and the log format.
  specs=(test/developer-environment.test.ts test/startup-configuration.test.ts test/embedded-default.test.ts
    test/connection-overwrite.test.ts test/cli.test.ts test/secret-key-auth.test.ts test/modern-sdk.test.ts test/logging.test.ts)
fi

copy=$(mktemp -d "${TMPDIR:-/tmp}/custody-hostile-env.XXXXXX")
trap 'rm -rf "$copy"' EXIT
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$copy"
ln -s "$repo/node_modules" "$copy/node_modules"
chmod 755 "$copy"

cat >"$copy/.env" <<'EOF'
# A developer's own settings, as `cp .env.template .env` and the README's lines leave them.
NANGO_SECRET_KEY=hostile-secret-key-from-dotenv
NANGO_ENCRYPTION_KEY=aG9zdGlsZS1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcyE=
NANGO_DASHBOARD_USERNAME=admin
NANGO_DASHBOARD_PASSWORD=hostile-dashboard-password
NANGO_PUBLIC_CONNECT=false
NANGO_SERVER_URL=https://custody.example.com
NANGO_DATABASE_URL=postgres://hostile:hostile@127.0.0.1:1/from-dotenv
NANGO_WEBHOOK_URL=http://127.0.0.1:1/hooks
NANGO_TRUST_PROXY=true
SERVER_HOST=192.0.2.1
LOG_LEVEL=silent
LOG_FORMAT=pretty
EOF

cd "$copy"
echo "Running ${#specs[@]} spec files with a hostile .env in the tree and hostile variables in the shell…"
env \
  NANGO_SECRET_KEY=hostile-secret-key-from-shell \
  NANGO_ENCRYPTION_KEY=c2hlbGwtZW5jcnlwdGlvbi1rZXktb2YtMzItYnl0ZXMh \
  NANGO_DATABASE_URL=postgres://hostile:hostile@127.0.0.1:1/from-shell \
  NANGO_DB_HOST=127.0.0.1 NANGO_DB_PORT=1 \
  NANGO_DATA_DIR=/nonexistent/hostile-data-dir \
  NANGO_PUBLIC_CONNECT=false \
  NANGO_HOSTPORT=http://127.0.0.1:1 \
  NANGO_AUTH_FAILURE_LIMIT=1 \
  NANGO_TELEMETRY_ENDPOINT=http://127.0.0.1:1/telemetry \
  CUSTODY_INIT_SOURCE_DIR=/nonexistent \
  LOG_LEVEL=silent LOG_FORMAT=pretty \
  SERVER_HOST=192.0.2.1 HOST=192.0.2.1 SERVER_PORT=1 PORT=1 \
  DATABASE_URL=postgres://hostile@127.0.0.1:1/x \
  PGHOST=127.0.0.1 PGPORT=1 PGSSLMODE=require PGPASSWORD=hostile \
  HTTP_PROXY=http://127.0.0.1:1 HTTPS_PROXY=http://127.0.0.1:1 http_proxy=http://127.0.0.1:1 https_proxy=http://127.0.0.1:1 \
  npx vitest run --project specs "${specs[@]}"
