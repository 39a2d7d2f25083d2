#!/usr/bin/env bash
# Deployment test: builds the Dockerfile and runs docker-compose.yml (and docker-compose.scale.yml) for
# real, with podman + podman-compose standing in for Docker (../shared/tools/container-standins.sh,
# beside the repository, prepares them). Outside vitest:  bash test/deploy/deploy.test.sh
#
# Everything runs under a unique compose project in a temporary copy of the compose files, with a
# generated .env, nginx on a free loopback port and a uniquely named image. Containers, volume,
# network, the image and its build layers are removed at the end, on failure and on Ctrl-C too.
# An override adds a local OAuth 2.0 provider (oauth-provider.mjs, run from the node base image) and the
# server's template for it, so an OAuth flow runs end to end through nginx (oauth-flow.mjs, on the host),
# with one server and with two; the CLI (the bin from the built image) then runs against nginx.
# The compose file's nginx image (nginx's stable branch, which cannot be pulled here) is the stand-in nginx
# under that tag for the run. A backup is taken with docs/self-hosting.md's command, the volume deleted and
# the dump restored; a second replica is added while nginx runs (nginx must find it by itself), and both
# replicas are restarted in turn under steady reads through nginx (none may fail).
# Prints PASS/FAIL per check and "N passed, N failed"; exits non-zero on any failure. Exits 0 with a
# SKIP line when the stand-in script, podman or podman-compose cannot be had.
#
# podman-compose 1.0.3 specifics handled here (Docker Compose v2 differs): healthchecks never run on
# their own (`podman healthcheck run`), depends_on conditions are ignored (the server retries its
# database connection), `up -d --build` does not recreate containers (use --force-recreate), its exit
# code says nothing (containers are checked instead), names are <project>_<service>_<n>, and `down -v`
# leaves the network behind. BUILDAH_FORMAT=docker keeps the Dockerfile's HEALTHCHECK (podman's
# default OCI image format drops it).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# CONTAINER_STANDINS: the script elsewhere, for a checkout (a git worktree) that has no shared/ folder beside it.
standins="${CONTAINER_STANDINS:-$repo/../shared/tools/container-standins.sh}"

skip() { echo "SKIP deploy test: $*"; exit 0; }
ms() { date +%s%3N; }
secs() { awk -v a="$1" -v b="$(ms)" 'BEGIN { printf "%.1f s", (b - a) / 1000 }'; }

# --- preflight ------------------------------------------------------------------------------------------
[[ -f $standins ]] || skip "$standins not found (the shared/ folder beside the repository, or set CONTAINER_STANDINS)"
for tool in node curl; do command -v "$tool" >/dev/null || skip "$tool is not installed"; done
t_start=$(ms)
standins_log=$(mktemp /tmp/custody-standins.XXXXXX.log)
if ! bash "$standins" >"$standins_log" 2>&1; then
  tail -n 20 "$standins_log"
  rm -f "$standins_log"
  skip "container-standins.sh failed (see above); podman cannot be had here"
fi
rm -f "$standins_log"
for tool in podman podman-compose; do command -v "$tool" >/dev/null || skip "$tool is not available after container-standins.sh"; done
t_standins=$(secs "$t_start")

# --- state ----------------------------------------------------------------------------------------------
passed=0 failed=0 gaps=0
timings=()
pass() { echo "PASS $1${2:+ — $2}"; passed=$((passed + 1)); }
fail() { echo "FAIL $1${2:+ — $2}"; failed=$((failed + 1)); }
gap() { echo "GAP  $1${2:+ — $2}"; gaps=$((gaps + 1)); }
timing() { timings+=("$1: $2"); }

rand=$(node -p "require('crypto').randomBytes(4).toString('hex')")
project="custody-deploy-$rand"
image="localhost/custody-deploy-$rand:test"
work=$(mktemp -d "/tmp/custody-deploy-$rand.XXXXXX")
# Three free loopback ports at once (so they differ): nginx, the test OAuth provider, and one left closed.
read -r port provider_port closed_port < <(node -e "
const net = require('net'), servers = [0, 1, 2].map(() => net.createServer().listen(0, '127.0.0.1'));
Promise.all(servers.map((s) => new Promise((r) => s.on('listening', r)))).then(() => { console.log(servers.map((s) => s.address().port).join(' ')); servers.forEach((s) => s.close()); });")
base="http://127.0.0.1:$port"
provider="http://127.0.0.1:$provider_port"
oauth_client_id="deploy-oauth-client-$rand"
oauth_client_secret=$(node -p "require('crypto').randomBytes(24).toString('base64url')")
secret_key=$(node -p "require('crypto').randomBytes(32).toString('hex')")
encryption_key=$(node -p "require('crypto').randomBytes(32).toString('base64')")
db_password=$(node -p "require('crypto').randomBytes(16).toString('hex')")
images_before=$(podman images -a -q --no-trunc | sort -u)
external_before=$(podman ps -a --external -q --no-trunc | sort -u)
export BUILDAH_FORMAT=docker

server1="${project}_server_1" server2="${project}_server_2" db="${project}_db_1" nginx="${project}_nginx_1"
compose_log="$work/compose.log"
provider_container="${project}_oauth-provider_1"
# docker-compose.oauth.yml (written below) adds the test OAuth provider and the server's template for it.
pc() { podman-compose -p "$project" -f "$work/docker-compose.yml" -f "$work/docker-compose.oauth.yml" "$@" >>"$compose_log" 2>&1; }
pcs() { podman-compose -p "$project" -f "$work/docker-compose.yml" -f "$work/docker-compose.scale.yml" -f "$work/docker-compose.oauth.yml" "$@" >>"$compose_log" 2>&1; }

nginx_standin=docker.io/library/nginx:1.22-bookworm nginx_tagged=""
cleaned=false
cleanup() {
  $cleaned && return
  cleaned=true
  # These files name every container the project can have (server_1, server_2, db, nginx, oauth-provider).
  pcs down -v || true
  local leftover
  leftover=$(podman ps -a -q --filter "label=io.podman.compose.project=$project")
  [[ -n $leftover ]] && podman rm -f -v $leftover >/dev/null 2>&1
  podman volume rm -f "${project}_db-data" >/dev/null 2>&1
  podman network rm -f "${project}_default" >/dev/null 2>&1
  podman rmi -f "$image" >/dev/null 2>&1
  [[ -n $nginx_tagged ]] && podman untag "$nginx_standin" "$nginx_tagged" >/dev/null 2>&1
  # An interrupted build leaves buildah working containers behind ("Storage" in `podman ps --external`):
  # remove those that appeared during this run on this Dockerfile's stages (its label) or its base image.
  local custody_images node_image id image_id status round
  custody_images=$(podman images -a -q --no-trunc --filter label=org.opencontainers.image.title=custody-server | sed 's/^sha256://')
  node_image=$(podman image inspect --format '{{.Id}}' docker.io/library/node:20-bookworm-slim 2>/dev/null)
  while read -r id image_id status; do
    [[ -z $id || $status != Storage ]] && continue
    grep -qx "$id" <<<"$external_before" && continue
    if [[ $node_image == "$image_id"* ]] || grep -q "^$image_id" <<<"$custody_images"; then podman rm -f "$id" >/dev/null 2>&1; fi
  done < <(podman ps -a --external --no-trunc --format '{{.ID}} {{.ImageID}} {{.Status}}' 2>/dev/null)
  # Build-stage layers this run left untagged (the runtime image's own untagged parents went with it);
  # removing a leaf can leave its parent dangling, hence the rounds.
  for round in 1 2 3; do
    for id in $(podman images -a -q --no-trunc --filter dangling=true --filter label=org.opencontainers.image.title=custody-server); do
      grep -qx "$id" <<<"$images_before" || podman rmi "$id" >/dev/null 2>&1
    done
  done
  rm -rf "$work"
}

finish() {
  local rc=$?
  trap - EXIT INT TERM
  if ((failed > 0)); then
    echo "--- last compose output ---"; tail -n 25 "$compose_log" 2>/dev/null
    for c in "$server1" "$server2" "$nginx" "$provider_container"; do
      podman container exists "$c" 2>/dev/null && { echo "--- podman logs $c (tail) ---"; podman logs --tail 15 "$c" 2>&1; }
    done
  fi
  local t=$(ms)
  cleanup
  local left
  left="$(podman ps -a -q --filter "label=io.podman.compose.project=$project")$(podman volume ls -q --filter "label=io.podman.compose.project=$project")"
  podman network exists "${project}_default" 2>/dev/null && left+=" network"
  podman image exists "$image" 2>/dev/null && left+=" image"
  if [[ -z ${left// /} ]]; then pass "cleanup" "no container, volume, network or image of $project left"; else fail "cleanup" "left behind: $left"; fi
  timing "cleanup (down -v, network, image)" "$(secs "$t")"
  echo "--- timings ---"
  printf '  %s\n' "container-standins.sh: $t_standins" "${timings[@]}" "total: $(secs "$t_start")"
  if ((gaps > 0)); then echo "$passed passed, $failed failed ($gaps known gap(s), not counted as failures)"; else echo "$passed passed, $failed failed"; fi
  ((failed == 0 && rc == 0)) && exit 0
  exit 1
}
trap finish EXIT
trap 'echo "interrupted"; failed=$((failed + 1)); exit 130' INT TERM

abort() { fail "$1" "$2"; echo "aborting: later checks depend on this one"; exit 1; }

# Polls a command until it succeeds or the timeout (seconds) passes.
wait_for() {
  local timeout=$1; shift
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS >= deadline)) && return 1
    sleep 0.5
  done
}
health_ok() { [[ $(curl -fsS --max-time 3 "$base/health" 2>/dev/null) == '{"result":"ok"}' ]]; }
running() { [[ $(podman inspect --format '{{.State.Running}}' "$1" 2>/dev/null) == true ]]; }
# curl through nginx; prints "<status> <body>".
api() {
  local method=$1 path=$2; shift 2
  curl -sS --max-time 10 -o "$work/body" -w '%{http_code}' -X "$method" "$base$path" "$@" 2>/dev/null || echo -n "000"
  echo " $(head -c 300 "$work/body" 2>/dev/null)"
}
auth=(-H "Authorization: Bearer $secret_key")

# Waits for db health, then /health through nginx. $1: label for the timing.
wait_stack() {
  local t=$(ms) t_db
  wait_for 90 podman healthcheck run "$db" || { fail "$1: db healthy" "podman healthcheck run $db never succeeded in 90 s"; return 1; }
  t_db=$(secs "$t")
  wait_for 120 health_ok || { fail "$1: /health through nginx" "no {\"result\":\"ok\"} at $base/health in 120 s"; return 1; }
  timing "$1: db healthy after $t_db, /health through nginx after" "$(secs "$t")"
  if (($(ms) - t > 15000)); then # slow: say why, for whoever reads the output
    echo "NOTE $1: the stack took $(secs "$t") to answer; nginx and server logs:"
    echo "  server container started at $(podman inspect --format '{{.State.StartedAt}}' "$server1"), restarts: $(podman inspect --format '{{.RestartCount}}' "$server1")"
    podman logs -t --tail 4 "$nginx" 2>&1 | grep -v systemd | cut -c1-220 | sed 's/^/  nginx: /'
    podman logs -t "$server1" 2>&1 | grep -v systemd | cut -c1-220 | head -n 30 | sed 's/^/  server: /'
  fi
}

# --- the compose project: a temporary copy with a generated .env ----------------------------------------
cp "$repo/docker-compose.yml" "$repo/docker-compose.scale.yml" "$repo/nginx.conf" "$work/"
# Build from the repository, under a name of this run only.
sed -i -e "s|^\(\s*context:\s*\)\.\s*$|\1$repo|" -e "s|^\(\s*image:\s*\)custody-server:local\s*$|\1$image|" "$work/docker-compose.yml"
grep -q "context: $repo" "$work/docker-compose.yml" && grep -q "image: $image" "$work/docker-compose.yml" \
  || abort "compose copy" "docker-compose.yml no longer has 'context: .' and 'image: custody-server:local' lines to point at this run"
# The compose file pins nginx's stable branch, which cannot be pulled here: the stand-in nginx (Debian's 1.22)
# answers to that name for this run (untagged again at cleanup). Same configuration, older nginx.
nginx_image=$(awk '/^  nginx:/ { in_nginx = 1 } in_nginx && $1 == "image:" { print $2; exit }' "$work/docker-compose.yml")
[[ $nginx_image == docker.io/library/nginx:* ]] || abort "compose copy" "docker-compose.yml's nginx service has no docker.io/library/nginx image line (found '$nginx_image')"
if ! podman image exists "$nginx_image"; then
  podman tag "$nginx_standin" "$nginx_image" && nginx_tagged=$nginx_image || abort "nginx image" "could not tag the stand-in $nginx_standin as $nginx_image"
fi
echo "nginx image: $nginx_image$([[ -n $nginx_tagged ]] && echo " (the stand-in $nginx_standin, tagged for this run)")"
# The OAuth flow below starts connections by connection id alone, as seed-era apps do: the old setting, set
# explicitly (new installs get NANGO_PUBLIC_CONNECT=false; test/connection-overwrite.test.ts covers it).
write_env() {
  cat >"$work/.env" <<EOF
NANGO_PUBLIC_CONNECT=true
NANGO_SECRET_KEY=$secret_key
NANGO_ENCRYPTION_KEY=$1
NANGO_SERVER_URL=$base
NANGO_DB_PASSWORD=$db_password
NGINX_PORT=$port
LOG_LEVEL=info
TELEMETRY=false
EOF
}
write_env "$encryption_key"
# The OAuth flow's provider: oauth-provider.mjs as one more service from the node base image (nothing to
# build), on the compose network. The server exchanges codes at its service name; the test, playing the
# browser on the host, follows the authorize redirect to its port published on 127.0.0.1. The server gets
# a provider template for it as a user adds one (NANGO_PROVIDERS_FILE, mounted), never a real provider host.
cp "$repo/test/deploy/oauth-provider.mjs" "$work/"
cat >"$work/providers.local.yaml" <<EOF
deploy-oauth:
  display_name: Deploy test OAuth provider
  auth_mode: OAUTH2
  authorization_url: $provider/authorize
  token_url: http://oauth-provider:8080/token
  default_scopes: [read]
  docs: $provider/
EOF
cat >"$work/docker-compose.oauth.yml" <<EOF
services:
  server:
    environment:
      NANGO_PROVIDERS_FILE: /app/providers.local.yaml
    volumes:
      - ./providers.local.yaml:/app/providers.local.yaml:ro
  oauth-provider:
    image: docker.io/library/node:20-bookworm-slim
    user: "1000"
    command: ["node", "/srv/oauth-provider.mjs"]
    environment:
      CLIENT_ID: $oauth_client_id
      CLIENT_SECRET: $oauth_client_secret
      REDIRECT_URI: $base/oauth/callback
      PORT: "8080"
    volumes:
      - ./oauth-provider.mjs:/srv/oauth-provider.mjs:ro
    ports:
      - "127.0.0.1:$provider_port:8080"
EOF
echo "project $project, nginx on $base, OAuth provider on $provider, work dir $work"

# --- 1. build and start -----------------------------------------------------------------------------------
t=$(ms)
pc up -d --build --force-recreate
timing "first up -d --build --force-recreate (build + start)" "$(secs "$t")"
podman image exists "$image" || abort "image build" "podman-compose did not build $image (see the compose output)"
pass "image build" "$image, $(podman image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
for c in "$db" "$server1" "$nginx" "$provider_container"; do
  podman container exists "$c" || abort "containers created" "$c is missing"
done
pass "containers created" "$db, $server1, $nginx, $provider_container (the test's OAuth provider)"
wait_stack "first start" || abort "stack up" "the stack never answered"
pass "db healthy (pg_isready) and /health through nginx" "$base/health → {\"result\":\"ok\"}"
out=$(api GET /ready)
[[ $out == 200*'"database":"ok"'* ]] && pass "readiness /ready through nginx" "GET /ready → $out" || fail "readiness /ready through nginx" "GET /ready → $out"

# --- 2. the start-up line ------------------------------------------------------------------------------------
listening=$(podman logs "$server1" 2>&1 | grep -c 'Server listening on port 3003')
line=$(podman logs "$server1" 2>&1 | grep 'Server listening on port 3003' | head -1)
if [[ $listening == 1 && $line == *"Register this OAuth callback URL with each provider: $base/oauth/callback"* && $line == *"PostgreSQL at db:5432/"* ]]; then
  pass "start-up log line" "one line: port 3003, callback $base/oauth/callback, PostgreSQL at db:5432"
else
  fail "start-up log line" "expected one 'Server listening on port 3003' line naming $base/oauth/callback and db:5432; found $listening: $line"
fi
if podman logs "$server1" 2>&1 | grep -q 'NANGO_SECRET_KEY is not set'; then fail "secret key taken from .env" "the server warns that NANGO_SECRET_KEY is not set"; fi

# --- 3. the container itself -------------------------------------------------------------------------------
if podman healthcheck run "$server1" >/dev/null 2>&1; then pass "image HEALTHCHECK (node fetch of /health)" "podman healthcheck run $server1 → healthy"
else fail "image HEALTHCHECK (node fetch of /health)" "podman healthcheck run $server1 failed (is the image built with BUILDAH_FORMAT=docker?)"; fi
uid=$(podman exec "$server1" id -u 2>/dev/null)
[[ $uid == 1000 ]] && pass "runs as the non-root node user" "uid $uid" || fail "runs as the non-root node user" "uid '$uid'"
env_in=$(podman exec "$server1" printenv NODE_ENV NANGO_DB_HOST 2>/dev/null | tr '\n' ' ')
[[ $env_in == "production db " ]] && pass "container environment" "NODE_ENV=production, NANGO_DB_HOST=db" || fail "container environment" "NODE_ENV, NANGO_DB_HOST = $env_in"
host_in=$(podman exec "$server1" printenv SERVER_HOST 2>/dev/null)
[[ $host_in == 0.0.0.0 ]] && pass "listens on every interface inside the container" "SERVER_HOST=0.0.0.0 from the compose file" || fail "listens on every interface inside the container" "SERVER_HOST = '$host_in'"
published=$(podman port "$db" 2>/dev/null)
[[ -z $published ]] && pass "db port not published" || fail "db port not published" "$published"

# --- 4. WebSocket upgrade through nginx --------------------------------------------------------------------
ws_check='
const http = require("http"), crypto = require("crypto");
const [port, path] = [Number(process.argv[1]), process.argv[2]];
const key = crypto.randomBytes(16).toString("base64");
const accept = crypto.createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
const done = (code, text) => { console.log(text); process.exit(code); };
setTimeout(() => done(3, "no answer in 10 s"), 10000);
const req = http.request({ host: "127.0.0.1", port, path, headers: { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13" } });
req.on("response", (res) => done(res.statusCode === 404 ? 2 : 1, `HTTP ${res.statusCode} instead of 101`));
req.on("error", (error) => done(3, error.message));
req.on("upgrade", (res, socket, head) => {
  if (res.headers["sec-websocket-accept"] !== accept) return done(1, "101 with a wrong Sec-WebSocket-Accept");
  let buffer = head;
  const frame = () => {
    if (buffer.length < 2) return;
    let length = buffer[1] & 127, offset = 2;
    if (length === 126) { if (buffer.length < 4) return; length = buffer.readUInt16BE(2); offset = 4; }
    if (buffer.length < offset + length) return;
    const text = buffer.subarray(offset, offset + length).toString();
    socket.destroy();
    done(text.includes("connection_ack") ? 0 : 1, `101, first message ${text}`);
  };
  socket.on("data", (data) => { buffer = Buffer.concat([buffer, data]); frame(); });
  frame();
});
req.end();
'
for ws_path in / /some/other/path; do
  out=$(node -e "$ws_check" "$port" "$ws_path" 2>&1); rc=$?
  case $rc in
    0) pass "WebSocket upgrade through nginx on $ws_path" "$out" ;;
    2) gap "WebSocket upgrade through nginx on $ws_path" "the server answered 404: no WebSocket endpoint ($out)" ;;
    *) fail "WebSocket upgrade through nginx on $ws_path" "$out" ;;
  esac
done

# --- 5. the API through nginx ---------------------------------------------------------------------------
out=$(api GET /config)
[[ $out == 401* ]] && pass "API refuses a request without the secret key" "GET /config → 401" || fail "API refuses a request without the secret key" "GET /config → $out"
config_body='{"provider_config_key":"deploy-github","provider":"github","oauth_client_id":"deploy-client-id","oauth_client_secret":"deploy-client-secret","oauth_scopes":"repo,user"}'
out=$(api POST /config "${auth[@]}" -H 'Content-Type: application/json' --data "$config_body")
[[ $out == 200* ]] && pass "create a config through nginx" "POST /config → $out" || fail "create a config through nginx" "POST /config → $out"
config_survives() { # $1: label
  local out
  out=$(api GET /config/deploy-github "${auth[@]}")
  if [[ $out == 200* && $out == *'"oauth_client_id":"deploy-client-id"'* && $out == *'"oauth_client_secret":"deploy-client-secret"'* ]]; then
    pass "$1" "GET /config/deploy-github → 200 with its client id and decrypted secret"
  else
    fail "$1" "GET /config/deploy-github → $out"
  fi
}
config_survives "read the config back"
token_survives() { # $1: label. The OAuth connection's token, as the flow in 5b left it.
  [[ -z $oauth_token ]] && return
  local out
  out=$(api GET "$connection_path" "${auth[@]}")
  [[ $out == 200* ]] && grep -qF "\"access_token\":\"$oauth_token\"" "$work/body" && pass "$1" "GET /connection/deploy-user-1 → 200, the same access token" || fail "$1" "GET /connection/deploy-user-1 → $out"
}
stored=$(podman exec "$db" psql -U nango -d nango -Atc "SELECT oauth_client_secret FROM nango._nango_configs WHERE unique_key = 'deploy-github'" 2>&1)
if [[ -n $stored && $stored != *deploy-client-secret* && $stored != *ERROR* ]]; then pass "client secret encrypted at rest" "stored as ${stored:0:16}…"
else fail "client secret encrypted at rest" "stored value: $stored"; fi
big=$(node -e 'process.stdout.write(JSON.stringify({provider_config_key: "big", pad: "x".repeat(2 * 1024 * 1024)}))')
out=$(curl -sS --max-time 20 -o "$work/body" -w '%{http_code}' -X POST "$base/config" "${auth[@]}" -H 'Content-Type: application/json' --data-binary @- <<<"$big" 2>/dev/null)
body=$(head -c 200 "$work/body")
[[ $out == 413 && $body == *'"error"'* ]] && pass "a 2 MiB body passes nginx and the server answers 413 itself" "$body" \
  || fail "a 2 MiB body passes nginx and the server answers 413 itself" "$out $body"

# --- 5b. an OAuth 2.0 flow through nginx ------------------------------------------------------------------------
# oauth-flow.mjs plays the browser and the app: popup WebSocket, /oauth/connect, the provider's authorize
# redirect, the callback (all through nginx but the provider's own page), then the token read and a forced
# refresh through the API, each compared with what the provider issued. Its PASS/FAIL lines become this
# test's; its DATA lines land in flow_data. $@: extra environment (LABEL, CONNECTION_ID, REPLICAS, …).
declare -A flow_data
flow_quiet=false # true: one summary line instead of every check (the repeated flows with two replicas)
oauth_flow() {
  local kind label detail rc passes=0 fails=()
  flow_data=()
  env "$@" BASE="$base" SECRET_KEY="$secret_key" PROVIDER="$provider" KEY=deploy-oauth \
    CLIENT_ID="$oauth_client_id" CLIENT_SECRET="$oauth_client_secret" node "$repo/test/deploy/oauth-flow.mjs" >"$work/flow.out" 2>&1
  rc=$?
  while IFS=$'\t' read -r kind label detail; do
    case $kind in
      PASS) if $flow_quiet; then passes=$((passes + 1)); else pass "$label" "$detail"; fi ;;
      FAIL) fails+=("$label"); fail "$label" "$detail" ;;
      DATA) flow_data[$label]=$detail ;;
      *) [[ -n $kind ]] && echo "  oauth-flow.mjs: $kind $label $detail" ;; # a crash's stack trace
    esac
  done <"$work/flow.out"
  ((rc != 0 && ${#fails[@]} == 0)) && { fail "OAuth flow helper" "oauth-flow.mjs exited $rc (output above)"; fails+=(helper); }
  $flow_quiet && ((${#fails[@]} == 0)) && flow_passes=$passes
  ((${#fails[@]} == 0))
}
provider_ok() { [[ $(curl -fsS --max-time 3 "$provider/health" 2>/dev/null) == '{"ok":true}' ]]; }
connection_path="/connection/deploy-user-1?provider_config_key=deploy-oauth"
oauth_token="" oauth_refresh_token=""
t=$(ms)
if wait_for 30 provider_ok; then
  oauth_config="{\"provider_config_key\":\"deploy-oauth\",\"provider\":\"deploy-oauth\",\"oauth_client_id\":\"$oauth_client_id\",\"oauth_client_secret\":\"$oauth_client_secret\",\"oauth_scopes\":\"read\"}"
  out=$(api POST /config "${auth[@]}" -H 'Content-Type: application/json' --data "$oauth_config")
  if [[ $out == 200* ]]; then
    pass "create an integration of the provider template from NANGO_PROVIDERS_FILE through nginx" "POST /config deploy-oauth → $out"
    oauth_flow LABEL="OAuth" CONNECTION_ID=deploy-user-1
    oauth_token=${flow_data[access_token]:-} oauth_refresh_token=${flow_data[refresh_token]:-}
  else
    fail "create an integration of the provider template from NANGO_PROVIDERS_FILE through nginx" "POST /config deploy-oauth → $out"
  fi
else
  fail "test OAuth provider answers on $provider" "no answer in 30 s: $(podman logs --tail 5 "$provider_container" 2>&1 | tr '\n' ' ')"
fi
timing "OAuth flow through nginx (connect, authorize, callback, WebSocket, token read, forced refresh)" "$(secs "$t")"

# --- 5c. the CLI through nginx ------------------------------------------------------------------------------------
# The package's bin as `npm run build` made it inside the image (dist/ and package.json copied out of it):
# the very build under test, and no second build on the host (CI has no dist/). The CLI needs only Node's
# own modules. Linked as `nango` the way npm links a bin, and run with the user's two variables.
t=$(ms)
cli_dir="$work/cli" extract="${project}_cli-extract"
mkdir -p "$cli_dir/bin" "$cli_dir/runs"
# The compose label lets cleanup find this container if the run is interrupted here.
if podman create --name "$extract" --label "io.podman.compose.project=$project" "$image" >/dev/null 2>&1 \
  && podman cp "$extract:/app/dist" "$cli_dir/dist" >/dev/null 2>&1 && podman cp "$extract:/app/package.json" "$cli_dir/" >/dev/null 2>&1; then
  cli_bin=$(node -p "require('$cli_dir/package.json').bin.nango" 2>/dev/null)
  chmod +x "$cli_dir/$cli_bin" && ln -s "$cli_dir/$cli_bin" "$cli_dir/bin/nango"
fi
podman rm -f "$extract" >/dev/null 2>&1
nango="$cli_dir/bin/nango"
# cli_start NAME [VAR=value …] ARGS…: runs `nango ARGS` in the background (each run costs ~0.3 s of Node start-up
# and fetch loading, so the read-only ones run side by side); cli NAME …: the same, waited for. cli_result NAME
# then sets cli_out, cli_err and cli_rc. Assignments before the arguments override the two defaults.
cli_start() {
  local name=$1 vars=(); shift
  while [[ $1 == NANGO_*=* ]]; do vars+=("$1"); shift; done
  (env NANGO_HOSTPORT="$base" NANGO_SECRET_KEY="$secret_key" "${vars[@]}" "$nango" "$@" >"$cli_dir/runs/$name.out" 2>"$cli_dir/runs/$name.err"
    echo $? >"$cli_dir/runs/$name.rc") &
}
cli() { cli_start "$@"; wait $!; cli_result "$1"; }
cli_result() {
  cli_out=$(cat "$cli_dir/runs/$1.out" 2>/dev/null) cli_err=$(cat "$cli_dir/runs/$1.err" 2>/dev/null) cli_rc=$(cat "$cli_dir/runs/$1.rc" 2>/dev/null)
}
# A JavaScript condition on the JSON in cli_out (j), with further arguments as a[0], a[1], …
json_is() { node -e 'const j = JSON.parse(require("fs").readFileSync(0, "utf8")), a = process.argv.slice(1); process.exit(eval(a.shift()) ? 0 : 1)' "$@" <<<"$cli_out" 2>/dev/null; }
cli_said() { echo "exit $cli_rc, stdout: $(head -c 300 <<<"$cli_out" | tr '\n' '|'), stderr: $(head -c 300 <<<"$cli_err" | tr '\n' '|')"; }
if [[ ! -x $nango ]]; then
  fail "CLI: the bin from the image" "could not copy /app/dist and package.json out of $image"
else
  cli_start version --version
  cli_start list config:list
  cli_start list-json config:list --json
  cli_start get config:get deploy-oauth
  cli_start get-json config:get deploy-oauth --json
  cli_start conns connection:list
  cli_start conns-json connection:list --json
  cli_start conn connection:get deploy-oauth deploy-user-1
  cli_start token token:get deploy-oauth deploy-user-1
  cli_start token-json token:get deploy-oauth deploy-user-1 --json
  cli_start bad-key NANGO_SECRET_KEY=wrong-key config:list
  cli_start no-host NANGO_HOSTPORT="http://127.0.0.1:$closed_port" config:list
  wait
  cli_result version
  [[ $cli_rc == 0 && $cli_out == "$(node -p "require('$repo/package.json').version")" ]] && pass "CLI: nango --version (bin $cli_bin from the image)" "$cli_out" \
    || fail "CLI: nango --version" "$(cli_said)"
  cli_result list
  if [[ $cli_rc == 0 ]] && grep -Eq "^UNIQUE KEY +PROVIDER +CLIENT ID +SCOPES +CREATED$" <<<"$cli_out" \
    && grep -Eq "^deploy-oauth +deploy-oauth +$oauth_client_id +read +[0-9]{4}-" <<<"$cli_out" && grep -Eq "^deploy-github +github +deploy-client-id " <<<"$cli_out"; then
    pass "CLI: config:list shows the integrations" "$(grep '^deploy-oauth' <<<"$cli_out")"
  else fail "CLI: config:list shows the integrations" "$(cli_said)"; fi
  cli_result list-json
  [[ $cli_rc == 0 ]] && json_is 'j.configs.some((c) => c.unique_key === "deploy-oauth" && c.provider === "deploy-oauth" && c.oauth_client_id === a[0])' "$oauth_client_id" \
    && pass "CLI: config:list --json parses" "configs[] holds deploy-oauth" || fail "CLI: config:list --json parses" "$(cli_said)"
  cli_result get
  if [[ $cli_rc == 0 && $cli_out == *"Client id:"*"$oauth_client_id"* && $cli_out == *"Client secret:"*"${oauth_client_secret:0:3}••••"* && $cli_out != *"$oauth_client_secret"* ]]; then
    pass "CLI: config:get masks the client secret" "$(grep 'Client secret' <<<"$cli_out")"
  else fail "CLI: config:get masks the client secret" "$(cli_said)"; fi
  cli_result get-json
  [[ $cli_rc == 0 ]] && json_is 'j.config.provider === "deploy-oauth" && j.config.oauth_client_secret === a[0]' "$oauth_client_secret" \
    && pass "CLI: config:get --json parses" "config.provider deploy-oauth, the client secret as the API gives it" || fail "CLI: config:get --json parses" "$(cli_said)"
  cli_result conns
  [[ $cli_rc == 0 ]] && grep -Eq "^[0-9]+ +deploy-user-1 +deploy-oauth +[0-9]{4}-" <<<"$cli_out" \
    && pass "CLI: connection:list shows the OAuth connection" "$(grep deploy-user-1 <<<"$cli_out")" || fail "CLI: connection:list shows the OAuth connection" "$(cli_said)"
  cli_result conns-json
  [[ $cli_rc == 0 ]] && json_is 'j.connections.some((c) => c.connection_id === "deploy-user-1" && c.provider === "deploy-oauth")' \
    && pass "CLI: connection:list --json parses" "connections[] holds deploy-user-1" || fail "CLI: connection:list --json parses" "$(cli_said)"
  if [[ -n $oauth_token ]]; then
    cli_result conn
    if [[ $cli_rc == 0 && $cli_out == *"Type:"*OAUTH2* && $cli_out == *"Access token:"*"${oauth_token:0:3}••••"* && $cli_out != *"$oauth_token"* && $cli_out != *"$oauth_refresh_token"* ]]; then
      pass "CLI: connection:get masks the tokens" "$(grep -E 'Access token|Refresh token' <<<"$cli_out" | tr -s ' ' | tr '\n' ' ')"
    else fail "CLI: connection:get masks the tokens" "$(cli_said)"; fi
    cli_result token
    [[ $cli_rc == 0 && $cli_out == "$oauth_token" ]] && pass "CLI: token:get prints the provider's access token alone" "${oauth_token:0:10}…" \
      || fail "CLI: token:get prints the provider's access token alone" "expected ${oauth_token:0:10}…; $(cli_said)"
    cli_result token-json
    [[ $cli_rc == 0 ]] && json_is 'j.type === "OAUTH2" && j.access_token === a[0] && j.refresh_token === a[1]' "$oauth_token" "$oauth_refresh_token" \
      && pass "CLI: token:get --json parses" "type OAUTH2, the provider's access and refresh tokens" || fail "CLI: token:get --json parses" "$(cli_said)"
  else
    fail "CLI: connection:get and token:get" "no OAuth connection to read (the OAuth flow failed)"
  fi
  cli_result bad-key
  [[ $cli_rc == 4 && -z $cli_out && $(wc -l <<<"$cli_err") == 1 && $cli_err == "Authentication failed: the server at $base rejected the secret key in NANGO_SECRET_KEY"* ]] \
    && pass "CLI: a wrong secret key → exit 4, one line" "$cli_err" || fail "CLI: a wrong secret key → exit 4, one line" "$(cli_said)"
  cli_result no-host
  [[ $cli_rc == 3 && -z $cli_out && $(wc -l <<<"$cli_err") == 1 && $cli_err == "Cannot reach the server at http://127.0.0.1:$closed_port"* ]] \
    && pass "CLI: an unreachable host → exit 3, one line" "$cli_err" || fail "CLI: an unreachable host → exit 3, one line" "$(cli_said)"
  # Writes, one after the other, on an integration of their own.
  cli create config:create deploy-cli github cli-id-1 cli-secret-1 "repo,user"
  create_rc=$cli_rc create_out=$cli_out
  cli edit config:edit deploy-cli github cli-id-2 cli-secret-2 "repo"
  edit_rc=$cli_rc
  cli edited config:get deploy-cli --json
  edited=$(json_is 'j.config.oauth_client_id === "cli-id-2" && j.config.oauth_scopes === "repo"' && echo yes)
  cli delete config:delete deploy-cli
  delete_rc=$cli_rc delete_out=$cli_out
  cli gone config:get deploy-cli
  if [[ $create_rc == 0 && $create_out == 'Created integration "deploy-cli"'* && $edit_rc == 0 && $edited == yes && $delete_rc == 0 && $delete_out == 'Deleted integration "deploy-cli"'* \
    && $cli_rc == 1 && -z $cli_out && $(wc -l <<<"$cli_err") == 1 && $cli_err == Error:* ]]; then
    pass "CLI: config:create, config:edit, config:delete; a missing integration → exit 1, one line" "$cli_err"
  else fail "CLI: config:create, config:edit, config:delete; a missing integration → exit 1, one line" "create $create_rc $create_out, edit $edit_rc, edited ${edited:-no}, delete $delete_rc $delete_out, then config:get: $(cli_said)"; fi
fi
timing "CLI through nginx (bin copied from the image, 17 commands)" "$(secs "$t")"

# --- 6. graceful stop, down/up ------------------------------------------------------------------------------
t=$(ms)
podman stop -t 10 "$server1" >/dev/null 2>&1
stop_ms=$(( $(ms) - t ))
code=$(podman inspect --format '{{.State.ExitCode}}' "$server1" 2>/dev/null)
last=$(podman logs --tail 1 "$server1" 2>&1)
# What matters: the server handled SIGTERM and exited by itself, long before podman's 10 s kill. Podman 4.3
# has been seen to record 137 for a container whose PID 1 had already exited 0 ("Stopped cleanly." logged
# within milliseconds), so the code alone is not the verdict; a stop that waited for the kill takes ≥ 10 s.
if [[ $last == *'Stopped cleanly.'* ]] && (( stop_ms < 5000 )) && [[ $code == 0 || $code == 137 ]]; then
  pass "SIGTERM stops the server cleanly (node as PID 1)" "'Stopped cleanly.' logged, podman stop took ${stop_ms} ms, exit code $code"
else fail "SIGTERM stops the server cleanly (node as PID 1)" "exit code $code after ${stop_ms} ms; $(podman logs --tail 3 "$server1" 2>&1 | tr '\n' ' ')"; fi
t=$(ms)
pc down
timing "down" "$(secs "$t")"
t=$(ms)
pc up -d
timing "up -d (no build)" "$(secs "$t")"
if wait_stack "after down/up"; then config_survives "data survives down/up"; token_survives "the OAuth token survives down/up"; fi

# --- 7. rebuild ------------------------------------------------------------------------------------------
t=$(ms)
pc up -d --build --force-recreate
timing "rebuild: up -d --build --force-recreate (cached layers)" "$(secs "$t")"
if wait_stack "after the rebuild"; then config_survives "data survives a rebuild and recreate"; token_survives "the OAuth token survives a rebuild and recreate"; fi

# --- 7b. backup and restore, with the commands of docs/self-hosting.md ------------------------------------------
# The documented lines themselves (podman-compose for `docker compose`): pg_dump writes the file inside the db
# container, into ./backups, so podman-compose's own lines on its standard output cannot end up in the dump.
doc_line() { grep -m1 -F "$1" "$repo/docs/self-hosting.md" | sed 's/^docker compose //'; }
backup_args=$(doc_line "exec -T db sh -c 'umask 077 && pg_dump")
restore_args=$(doc_line "exec -T db sh -c 'pg_restore")
if [[ -z $backup_args || -z $restore_args ]]; then
  fail "backup and restore" "docs/self-hosting.md has no 'exec -T db sh -c ...pg_dump' / '...pg_restore' line to run"
else
  t=$(ms)
  mkdir -p -m 700 "$work/backups" # as documented; the engine has made it already when it started db (the bind mount)
  eval "pc $backup_args"
  dump=$(ls "$work/backups"/custody-*.dump 2>/dev/null | head -1)
  if [[ -n $dump && $(head -c 5 "$dump") == PGDMP ]] && ! grep -qa 'podman' "$dump"; then
    pass "backup: the documented command writes a clean custom-format dump under podman-compose" "$(basename "$dump"), $(stat -c %s "$dump") bytes, PGDMP header, no podman-compose output in it"
    mode=$(stat -c %a "$dump")
    [[ $mode == 600 ]] && pass "backup: the dump is readable by its owner only" "mode $mode" || fail "backup: the dump is readable by its owner only" "mode $mode"
    pc down -v
    if podman volume exists "${project}_db-data" 2>/dev/null; then fail "backup: down -v deletes the data before the restore" "${project}_db-data still exists"; fi
    pc up -d db
    if wait_for 90 podman healthcheck run "$db"; then
      eval "pc ${restore_args//custody-2026-01-31.dump/$(basename "$dump")}"
      pc up -d
      timing "backup, down -v, restore, up" "$(secs "$t")"
      if wait_stack "after the restore"; then config_survives "restore: the integration and its secret read back"; token_survives "restore: the OAuth token reads back"; fi
    else
      fail "restore: db healthy after down -v and up -d db" "podman healthcheck run $db never succeeded"
    fi
  else
    fail "backup: the documented command writes a clean custom-format dump under podman-compose" "dump: ${dump:-none}, starts with '$(head -c 40 "$dump" 2>/dev/null | tr -cd '[:print:]')'"
  fi
fi

# --- 8. two replicas behind nginx ----------------------------------------------------------------------------
# The OAuth flow again: the popup's WebSocket is held by one replica and the callback reaches either; the
# result must arrive both ways (the other replica passes it on through PostgreSQL). oauth-flow.mjs says which
# replica holds the WebSocket (its established connection on port 3003, read from the container's
# /proc/<pid>/net/tcp); the server log that gained a callback line says which took the callback. nginx picks a
# replica at random for each request, so flows are repeated until one has crossed replicas, at most 10 (one
# in two does).
callbacks() { podman logs "$1" 2>&1 | grep -c '"url":"/oauth/callback'; }
# Each replica stopped (SIGTERM, podman's 10 s before a kill) and started again in turn while a reader sends
# GETs through nginx back to back: not one may fail, and each stop must end long before the kill.
rolling_restart() {
  local t c stopped_in failed total reader_pid stops=()
  t=$(ms)
  : >"$work/reads"
  rm -f "$work/stop-reading"
  (while [[ ! -f $work/stop-reading ]]; do
    curl -sS --max-time 10 -o /dev/null -w '%{http_code}\n' "${auth[@]}" "$base/config/deploy-github" >>"$work/reads" 2>/dev/null || echo "curl-error" >>"$work/reads"
    sleep 0.05
  done) &
  reader_pid=$!
  sleep 1
  for c in "$server1" "$server2"; do
    local s=$(ms)
    podman stop -t 10 "$c" >/dev/null 2>&1
    stopped_in=$(( $(ms) - s ))
    stops+=("${c##*_server_}: ${stopped_in} ms, $(podman logs --tail 1 "$c" 2>&1 | grep -o 'Stopped cleanly' || echo 'no clean stop')")
    podman start "$c" >/dev/null 2>&1
    wait_for 60 podman healthcheck run "$c" || fail "rolling restart: $c answers again" "its healthcheck fails after podman start"
    ((stopped_in < 8000)) || fail "rolling restart: $c stops by itself, long before the kill" "podman stop took $stopped_in ms"
    sleep 1
  done
  touch "$work/stop-reading"
  wait "$reader_pid"
  total=$(wc -l <"$work/reads")
  failed=$(grep -cv '^200$' "$work/reads")
  if ((total > 20 && failed == 0)); then
    pass "rolling restart: every read through nginx succeeds while each replica is restarted in turn" "$total reads, none failed; stops: ${stops[*]}"
  else
    fail "rolling restart: every read through nginx succeeds while each replica is restarted in turn" "$failed of $total failed ($(grep -v '^200$' "$work/reads" | sort | uniq -c | tr -s ' ' | tr '\n' ';')); stops: ${stops[*]}"
  fi
  timing "rolling restart of two replicas under reads" "$(secs "$t")"
}
oauth_across_replicas() {
  local t attempt c1 c2 holder taken crossed=false pids summary=()
  t=$(ms)
  pids="server_1:$(podman inspect --format '{{.State.Pid}}' "$server1") server_2:$(podman inspect --format '{{.State.Pid}}' "$server2")"
  flow_quiet=true
  for attempt in $(seq 1 10); do
    c1=$(callbacks "$server1") c2=$(callbacks "$server2")
    oauth_flow LABEL="OAuth with two replicas, flow $attempt" CONNECTION_ID="deploy-scale-$attempt" REPLICAS="$pids" EXTRA_REQUESTS=$(((attempt + 1) % 2)) || break
    holder=${flow_data[ws_holder]:-unknown}
    if (($(callbacks "$server1") > c1)); then taken=server_1; elif (($(callbacks "$server2") > c2)); then taken=server_2; else taken=unknown; fi
    summary+=("flow $attempt: WebSocket on $holder, callback on $taken")
    pass "OAuth with two replicas, flow $attempt: $flow_passes checks (WebSocket success, the provider's token, forced refresh)" "WebSocket on $holder, callback on $taken"
    [[ $holder == server_? && $taken == server_? && $holder != "$taken" ]] && { crossed=true; break; }
  done
  flow_quiet=false
  if $crossed; then pass "OAuth result reaches the WebSocket held by the other replica" "${summary[-1]}"
  elif ((${#summary[@]} == 10)); then fail "OAuth result reaches the WebSocket held by the other replica" "no flow crossed replicas: ${summary[*]}"; fi
  timing "OAuth flows with two replicas (${#summary[@]})" "$(secs "$t")"
}
# Scaling the running stack: `up -d` with the scale file adds server_2 beside the running server_1 and leaves
# nginx as it is (podman-compose 1.0.3 starts what exists and creates what is missing); nginx must find the
# new replica by itself.
t=$(ms)
nginx_id=$(podman inspect --format '{{.Id}}' "$nginx" 2>/dev/null)
hits() { podman logs "$1" 2>&1 | grep -c '"url":"/config/deploy-github"'; }
before1=$(hits "$server1")
pcs up -d
timing "scale: up -d with docker-compose.scale.yml on the running stack" "$(secs "$t")"
if wait_stack "two replicas"; then
  if running "$server1" && running "$server2"; then
    wait_for 60 podman healthcheck run "$server1" && wait_for 60 podman healthcheck run "$server2" \
      && pass "two replicas answer" "$server1 and $server2 healthy (GET /health inside each)" \
      || fail "two replicas answer" "a replica's healthcheck fails"
    [[ $(podman inspect --format '{{.Id}}' "$nginx" 2>/dev/null) == "$nginx_id" ]] || fail "scaling leaves nginx running" "$nginx was recreated"
    sleep 3 # nginx keeps a name's addresses 2 s
    for _ in $(seq 1 20); do api GET /config/deploy-github "${auth[@]}" >/dev/null; done
    hits1=$(($(hits "$server1") - before1)) hits2=$(hits "$server2")
    ((hits1 > 0 && hits2 > 0)) && pass "nginx, not recreated, sends requests to the replica added by scaling" "20 requests: $hits1 on server_1, $hits2 on server_2" \
      || fail "nginx, not recreated, sends requests to the replica added by scaling" "20 requests: $hits1 on server_1, $hits2 on server_2"
    config_survives "both replicas serve the shared data"
    oauth_across_replicas
    rolling_restart
  else
    fail "two replicas answer" "$server1 running: $(running "$server1" && echo yes || echo no), $server2: $(podman inspect --format '{{.State.Status}} (exit code {{.State.ExitCode}})' "$server2" 2>&1); its log: $(podman logs --tail 5 "$server2" 2>&1 | tr '\n' ' ' | cut -c1-600)"
  fi
fi
t=$(ms)
pcs down
timing "scale: down" "$(secs "$t")"

# --- 9. a malformed .env value ----------------------------------------------------------------------------
write_env short
t=$(ms)
pc up -d
config_error() { podman logs "$server1" 2>&1 | grep -q '^Configuration error: NANGO_ENCRYPTION_KEY'; }
if wait_for 30 config_error; then
  lines=$(podman logs "$server1" 2>&1 | grep -v '^\s*$' | sort -u)
  restarts=$(podman inspect --format '{{.RestartCount}}' "$server1" 2>/dev/null)
  if [[ $(wc -l <<<"$lines") == 1 ]]; then
    pass "malformed NANGO_ENCRYPTION_KEY stops the server with one line" "$lines (restarted $restarts time(s) by the restart policy, the same line each time)"
  else
    fail "malformed NANGO_ENCRYPTION_KEY stops the server with one line" "log has other lines too: $(head -c 400 <<<"$lines")"
  fi
  podman logs "$server1" 2>&1 | grep -q 'Server listening' && fail "malformed .env: server must not listen" "it logged 'Server listening'"
else
  fail "malformed NANGO_ENCRYPTION_KEY stops the server with one line" "no 'Configuration error: NANGO_ENCRYPTION_KEY' line in 30 s: $(podman logs --tail 5 "$server1" 2>&1 | tr '\n' ' ')"
fi
timing "malformed .env: up -d until the Configuration error line" "$(secs "$t")"
write_env "$encryption_key"
# finish (the EXIT trap) takes everything down and prints the summary.
