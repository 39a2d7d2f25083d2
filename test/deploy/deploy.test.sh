#!/usr/bin/env bash
# Deployment test: builds the Dockerfile and runs docker-compose.yml (and docker-compose.scale.yml) for
# real, with podman + podman-compose standing in for Docker (../shared/tools/container-standins.sh,
# beside the repository, prepares them). Outside vitest:  bash test/deploy/deploy.test.sh
#
# Everything runs under a unique compose project in a temporary copy of the compose files, with a
# generated .env, nginx on a free loopback port and a uniquely named image. Containers, volume,
# network, the image and its build layers are removed at the end, on failure and on Ctrl-C too.
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
standins="$repo/../shared/tools/container-standins.sh"

skip() { echo "SKIP deploy test: $*"; exit 0; }
ms() { date +%s%3N; }
secs() { awk -v a="$1" -v b="$(ms)" 'BEGIN { printf "%.1f s", (b - a) / 1000 }'; }

# --- preflight ------------------------------------------------------------------------------------------
[[ -f $standins ]] || skip "$standins not found (the shared/ folder beside the repository)"
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
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
base="http://127.0.0.1:$port"
secret_key=$(node -p "require('crypto').randomBytes(32).toString('hex')")
encryption_key=$(node -p "require('crypto').randomBytes(32).toString('base64')")
db_password=$(node -p "require('crypto').randomBytes(16).toString('hex')")
images_before=$(podman images -a -q --no-trunc | sort -u)
external_before=$(podman ps -a --external -q --no-trunc | sort -u)
export BUILDAH_FORMAT=docker

server1="${project}_server_1" server2="${project}_server_2" db="${project}_db_1" nginx="${project}_nginx_1"
compose_log="$work/compose.log"
pc() { podman-compose -p "$project" -f "$work/docker-compose.yml" "$@" >>"$compose_log" 2>&1; }
pcs() { podman-compose -p "$project" -f "$work/docker-compose.yml" -f "$work/docker-compose.scale.yml" "$@" >>"$compose_log" 2>&1; }

cleaned=false
cleanup() {
  $cleaned && return
  cleaned=true
  # The scale file names every container the project can have (server_1, server_2, db, nginx).
  pcs down -v || true
  local leftover
  leftover=$(podman ps -a -q --filter "label=io.podman.compose.project=$project")
  [[ -n $leftover ]] && podman rm -f -v $leftover >/dev/null 2>&1
  podman volume rm -f "${project}_db-data" >/dev/null 2>&1
  podman network rm -f "${project}_default" >/dev/null 2>&1
  podman rmi -f "$image" >/dev/null 2>&1
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
    for c in "$server1" "$server2" "$nginx"; do
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
write_env() {
  cat >"$work/.env" <<EOF
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
echo "project $project, nginx on $base, work dir $work"

# --- 1. build and start -----------------------------------------------------------------------------------
t=$(ms)
pc up -d --build --force-recreate
timing "first up -d --build --force-recreate (build + start)" "$(secs "$t")"
podman image exists "$image" || abort "image build" "podman-compose did not build $image (see the compose output)"
pass "image build" "$image, $(podman image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
for c in "$db" "$server1" "$nginx"; do
  podman container exists "$c" || abort "containers created" "$c is missing"
done
pass "containers created" "$db, $server1, $nginx"
wait_stack "first start" || abort "stack up" "the stack never answered"
pass "db healthy (pg_isready) and /health through nginx" "$base/health → {\"result\":\"ok\"}"

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
stored=$(podman exec "$db" psql -U nango -d nango -Atc "SELECT oauth_client_secret FROM nango._nango_configs WHERE unique_key = 'deploy-github'" 2>&1)
if [[ -n $stored && $stored != *deploy-client-secret* && $stored != *ERROR* ]]; then pass "client secret encrypted at rest" "stored as ${stored:0:16}…"
else fail "client secret encrypted at rest" "stored value: $stored"; fi
big=$(node -e 'process.stdout.write(JSON.stringify({provider_config_key: "big", pad: "x".repeat(2 * 1024 * 1024)}))')
out=$(curl -sS --max-time 20 -o "$work/body" -w '%{http_code}' -X POST "$base/config" "${auth[@]}" -H 'Content-Type: application/json' --data-binary @- <<<"$big" 2>/dev/null)
body=$(head -c 200 "$work/body")
[[ $out == 413 && $body == *'"error"'* ]] && pass "a 2 MiB body passes nginx and the server answers 413 itself" "$body" \
  || fail "a 2 MiB body passes nginx and the server answers 413 itself" "$out $body"

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
if wait_stack "after down/up"; then config_survives "data survives down/up"; fi

# --- 7. rebuild ------------------------------------------------------------------------------------------
t=$(ms)
pc up -d --build --force-recreate
timing "rebuild: up -d --build --force-recreate (cached layers)" "$(secs "$t")"
if wait_stack "after the rebuild"; then config_survives "data survives a rebuild and recreate"; fi

# --- 8. two replicas behind nginx ----------------------------------------------------------------------------
t=$(ms)
pcs up -d --force-recreate
timing "scale: up -d --force-recreate with docker-compose.scale.yml" "$(secs "$t")"
if wait_stack "two replicas"; then
  if running "$server1" && running "$server2"; then
    wait_for 60 podman healthcheck run "$server1" && wait_for 60 podman healthcheck run "$server2" \
      && pass "two replicas answer" "$server1 and $server2 healthy (GET /health inside each)" \
      || fail "two replicas answer" "a replica's healthcheck fails"
    for _ in $(seq 1 20); do api GET /config/deploy-github "${auth[@]}" >/dev/null; done
    hits1=$(podman logs "$server1" 2>&1 | grep -c '"url":"/config/deploy-github"')
    hits2=$(podman logs "$server2" 2>&1 | grep -c '"url":"/config/deploy-github"')
    ((hits1 > 0 && hits2 > 0)) && pass "nginx spreads requests over both replicas" "20 requests: $hits1 on server_1, $hits2 on server_2" \
      || fail "nginx spreads requests over both replicas" "20 requests: $hits1 on server_1, $hits2 on server_2"
    config_survives "both replicas serve the shared data"
  else
    fail "two replicas answer" "$server1 running: $(running "$server1" && echo yes || echo no), $server2 running: $(running "$server2" && echo yes || echo no)"
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
