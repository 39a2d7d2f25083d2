#!/usr/bin/env node
// The host side of the deployment test's OAuth 2.0 flow (deploy.test.sh), playing the browser and the app:
// opens the popup's WebSocket through nginx, starts /oauth/connect through nginx, follows the redirects to
// the test provider (oauth-provider.mjs) and back to the callback through nginx, waits for `success` on the
// WebSocket, then reads the token through the API, forces a refresh and checks both against what the
// provider issued. Also shows the provider's strictness is real: a replayed code and a rotated-out refresh
// token are refused.
//
// Settings (environment): BASE (nginx URL), SECRET_KEY, KEY (integration), CONNECTION_ID, PROVIDER (the
// provider's published URL), CLIENT_ID, CLIENT_SECRET, LABEL (prefix of every check), optionally
// REPLICAS ("name:pid …", server containers and their host PIDs: says which one holds the WebSocket) and
// EXTRA_REQUESTS (requests sent through nginx before the callback, to move nginx's round robin along).
// Prints one tab-separated line per check: PASS|FAIL <label> <detail>, and DATA <name> <value>.
// Exit code 1 when a check failed.
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

const env = (name, fallback) => process.env[name] ?? fallback ?? (console.error(`oauth-flow: ${name} is not set`), process.exit(2));
const BASE = env('BASE');
const SECRET_KEY = env('SECRET_KEY');
const KEY = env('KEY');
const CONNECTION_ID = env('CONNECTION_ID');
const PROVIDER = env('PROVIDER');
const CLIENT_ID = env('CLIENT_ID');
const CLIENT_SECRET = env('CLIENT_SECRET');
const LABEL = env('LABEL', 'OAuth');
const REPLICAS = env('REPLICAS', '').split(/\s+/).filter(Boolean).map((pair) => pair.split(':'));
const EXTRA_REQUESTS = Number(env('EXTRA_REQUESTS', '0'));
const CALLBACK = `${BASE}/oauth/callback`;

let failures = 0;
const line = (...fields) => console.log(fields.map((field) => String(field).replace(/[\t\n]/g, ' ')).join('\t'));
const pass = (label, detail = '') => line('PASS', `${LABEL}: ${label}`, detail);
const fail = (label, detail = '') => {
  failures += 1;
  line('FAIL', `${LABEL}: ${label}`, detail);
};
/** A check later steps cannot do without: stop here. */
const need = (ok, label, detail, passDetail = '') => {
  if (ok) return pass(label, passDetail);
  fail(label, detail);
  finish();
};
const check = (ok, label, detail, passDetail = '') => (ok ? pass(label, passDetail) : fail(label, detail));
const short = (value) => {
  const text = String(value ?? '');
  return text.length > 18 ? `${text.slice(0, 14)}…` : text;
};
let socket;
function finish() {
  socket?.terminate();
  process.exit(failures > 0 ? 1 : 0);
}
setTimeout(() => {
  fail('finished in time', 'no end after 60 s');
  finish();
}, 60_000).unref();

const get = (url, headers = {}) => fetch(url, { redirect: 'manual', headers, signal: AbortSignal.timeout(15_000) });
const api = async (path) => {
  const response = await get(`${BASE}${path}`, { authorization: `Bearer ${SECRET_KEY}` });
  return { status: response.status, body: await response.json().catch(() => undefined) };
};
const providerState = async () => (await get(`${PROVIDER}/test/state`)).json();
const tokenCall = async (params) => {
  const response = await fetch(`${PROVIDER}/token`, { method: 'POST', body: new URLSearchParams({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, ...params }) });
  return { status: response.status, body: await response.json() };
};

/** Established TCP connections on the server's port 3003 inside a container's network namespace. */
function establishedOn3003(pid) {
  let count = 0;
  for (const file of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      continue;
    }
    for (const row of text.split('\n').slice(1)) {
      const [, local, , state] = row.trim().split(/\s+/);
      if (local?.endsWith(':0BBB') && state === '01') count += 1;
    }
  }
  return count;
}

// --- 1. the popup's WebSocket, through nginx -------------------------------------------------------------
const wsUrl = `${BASE.replace(/^http/, 'ws')}/`;
socket = new WebSocket(wsUrl, { handshakeTimeout: 10_000 });
const messages = [];
let waiter;
socket.on('message', (data) => {
  messages.push(JSON.parse(String(data)));
  waiter?.();
});
socket.on('error', (error) => messages.push({ message_type: 'socket_error', error: error.message }));
socket.on('close', () => messages.push({ message_type: 'closed' }));
/** The next message (or undefined after `ms`). */
async function nextMessage(index, ms) {
  const deadline = Date.now() + ms;
  while (messages.length <= index && Date.now() < deadline) {
    await new Promise((resolve) => {
      waiter = resolve;
      setTimeout(resolve, 200);
    });
  }
  return messages[index];
}
const ack = await nextMessage(0, 10_000);
need(ack?.message_type === 'connection_ack' && typeof ack.ws_client_id === 'string', `popup WebSocket through nginx (${wsUrl})`, `first message: ${JSON.stringify(ack)}`, `connection_ack, ws_client_id ${ack?.ws_client_id}`);
const wsClientId = ack.ws_client_id;

if (REPLICAS.length > 0) {
  const holders = REPLICAS.filter(([, pid]) => establishedOn3003(pid) > 0).map(([name]) => name);
  line('DATA', 'ws_holder', holders.length === 1 ? holders[0] : `unknown (${holders.join(',') || 'none'})`);
}

// --- 2. /oauth/connect through nginx → the provider's authorize URL ---------------------------------------
const before = await providerState();
const connectUrl = `${BASE}/oauth/connect/${encodeURIComponent(KEY)}?connection_id=${encodeURIComponent(CONNECTION_ID)}&ws_client_id=${wsClientId}`;
const connect = await get(connectUrl);
const authorizeUrl = new URL(connect.headers.get('location') ?? 'about:blank');
const q = authorizeUrl.searchParams;
need(
  connect.status === 302 && `${authorizeUrl.origin}${authorizeUrl.pathname}` === `${PROVIDER}/authorize`,
  'GET /oauth/connect through nginx redirects to the provider',
  `HTTP ${connect.status}, location ${authorizeUrl}: ${(await connect.text()).slice(0, 200)}`,
  `302 → ${PROVIDER}/authorize`,
);
check(
  q.get('client_id') === CLIENT_ID && q.get('redirect_uri') === CALLBACK && q.get('response_type') === 'code' && q.get('code_challenge_method') === 'S256' && Boolean(q.get('state')),
  'authorize URL carries client_id, redirect_uri, state and PKCE S256',
  authorizeUrl.search,
  `redirect_uri ${q.get('redirect_uri')}, scope "${q.get('scope')}"`,
);

// --- 3. the provider (auto-approving) → the callback, through nginx ----------------------------------------
const authorized = await get(authorizeUrl.toString());
const back = new URL(authorized.headers.get('location') ?? 'about:blank');
const code = back.searchParams.get('code') ?? '';
need(
  authorized.status === 302 && `${back.origin}${back.pathname}` === CALLBACK && Boolean(code) && back.searchParams.get('state') === q.get('state'),
  'the provider accepts the authorize request and redirects to the callback',
  `HTTP ${authorized.status}, location ${back}: ${(await authorized.text()).slice(0, 200)}`,
  `302 → ${CALLBACK}?code=…&state=…`,
);
// Moves nginx's round robin along so that the callback can land on another replica than the WebSocket.
for (let i = 0; i < EXTRA_REQUESTS; i += 1) await (await get(`${BASE}/health`)).text();
const callback = await get(back.toString());
const page = await callback.text();
check(callback.status === 200 && /<html/i.test(page), 'GET /oauth/callback through nginx', `HTTP ${callback.status}: ${page.slice(0, 300)}`, `HTTP 200, ${page.length} bytes of HTML`);

// --- 4. the WebSocket gets the result -----------------------------------------------------------------------
const result = await nextMessage(1, 10_000);
need(
  result?.message_type === 'success' && result.provider_config_key === KEY && result.connection_id === CONNECTION_ID,
  'the popup WebSocket gets success',
  `message: ${JSON.stringify(result)}`,
  JSON.stringify(result),
);

// --- 5. the stored token is the provider's ------------------------------------------------------------------
const after = await providerState();
const exchanged = after.issued.slice(before.issued.length).filter((pair) => pair.grant === 'authorization_code');
const connectionPath = `/connection/${encodeURIComponent(CONNECTION_ID)}?provider_config_key=${encodeURIComponent(KEY)}`;
const stored = await api(connectionPath);
const credentials = stored.body?.credentials ?? {};
const expiresIn = (Date.parse(credentials.expires_at) - Date.now()) / 1000;
need(
  stored.status === 200 && exchanged.length === 1 && credentials.type === 'OAUTH2' && credentials.access_token === exchanged[0].access_token && credentials.refresh_token === exchanged[0].refresh_token,
  `GET ${connectionPath.split('?')[0]} through nginx returns the provider's token`,
  `HTTP ${stored.status}, type ${credentials.type}, access token ${short(credentials.access_token)}; the provider issued ${exchanged.length} token(s) for a code: ${exchanged.map((pair) => short(pair.access_token)).join(', ')}`,
  `access ${short(credentials.access_token)} and refresh ${short(credentials.refresh_token)} as issued, expires in ${Math.round(expiresIn)} s`,
);
check(expiresIn > 3000 && expiresIn <= 3600, 'expires_at from the provider\'s expires_in (3600 s)', `expires_at ${credentials.expires_at}`);

// --- 6. a forced refresh, through nginx ------------------------------------------------------------------------
const latest = exchanged[0];
const refreshed = await api(`${connectionPath}&force_refresh=true`);
const rotated = (await providerState()).issued.at(-1);
const fresh = refreshed.body?.credentials ?? {};
need(
  refreshed.status === 200 &&
    rotated?.grant === 'refresh_token' &&
    fresh.access_token === rotated.access_token &&
    fresh.refresh_token === rotated.refresh_token &&
    fresh.access_token !== latest.access_token &&
    fresh.refresh_token !== latest.refresh_token,
  'force_refresh=true through nginx stores the rotated token pair',
  `HTTP ${refreshed.status}, stored ${short(fresh.access_token)}/${short(fresh.refresh_token)}, provider's latest ${rotated?.grant} ${short(rotated?.access_token)}/${short(rotated?.refresh_token)}: ${JSON.stringify(refreshed.body).slice(0, 300)}`,
  `access ${short(latest.access_token)} → ${short(fresh.access_token)}, refresh ${short(latest.refresh_token)} → ${short(fresh.refresh_token)}`,
);

// --- 7. the provider's strictness is real: the server's code and its old refresh token are dead now ---------
const replay = await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: 'x'.repeat(43) });
check(
  replay.status === 400 && replay.body.error === 'invalid_grant' && /already used/.test(replay.body.error_description),
  'the code was redeemed once (a replay is refused by the provider)',
  `replay → HTTP ${replay.status} ${JSON.stringify(replay.body)}`,
  `replay → ${replay.body.error}: ${replay.body.error_description}`,
);
const reused = await tokenCall({ grant_type: 'refresh_token', refresh_token: latest.refresh_token });
check(
  reused.status === 400 && reused.body.error === 'invalid_grant',
  'the rotated-out refresh token is refused by the provider',
  `→ HTTP ${reused.status} ${JSON.stringify(reused.body)}`,
  `→ ${reused.body.error}`,
);
const again = await api(connectionPath);
check(again.body?.credentials?.access_token === fresh.access_token, 'a plain read afterwards returns the refreshed token', `got ${short(again.body?.credentials?.access_token)}`);

// The provider refused only what this script sent on purpose (the replay and the rotated-out token).
const refused = (await providerState()).refused.slice(before.refused.length);
check(refused.length === 2, 'the provider refused nothing the server sent', JSON.stringify(refused), `${refused.length} refusals, both this script's`);
line('DATA', 'access_token', fresh.access_token);
line('DATA', 'refresh_token', fresh.refresh_token);
finish();
