import { randomBytes } from 'node:crypto';
import type { FastifyInstance, onSendHookHandler } from 'fastify';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase } from './support/database.js';
import { freePort } from './support/free-port.js';
import { rawRequest, type RawAnswer } from './support/raw-http.js';
import { bearerAuth, buildTestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';
import { ensureWebBuild } from './support/web-build.js';

/**
 * Malformed input on every route the app registers, generated with fast-check and sent byte for byte over a
 * real socket: odd bodies (bad JSON, wrong types, huge and deeply nested values, odd content types and
 * charsets, invalid UTF-8, NUL), odd headers (Authorization, Content-Length, Content-Type, huge values, broken
 * framing), odd query strings (repeated and unknown keys, arrays, `%zz`, huge values) and odd path segments
 * (encoded slashes, `..`, unicode, huge). For every request: no 5xx, an answer in bounded time, /health still
 * answers, an error body in the API's shape, and not one row of any table changed.
 *
 * Replaying: the run is seeded (MALFORMED_INPUT_SEED, default 424242; each route mixes in its own name). A
 * failure prints fast-check's seed, path and counterexample, and the command that replays it. MALFORMED_INPUT_RUNS
 * sets the requests per route (default 8, about 1,500 requests in all; raise it for a longer hunt).
 *
 * Why "no row changed" is a sound check, that is why no generated request may legitimately write:
 * - Only GET and HEAD requests name things that exist (the seeded integration, connection, provider): those
 *   routes only read. Every other request names nothing that exists (path segments, provider_config_key and
 *   connection ids in the query, the proxy's Connection-Id / Provider-Config-Key headers, connect session
 *   tokens), so it cannot update, delete or use anything (nor reach a provider: the proxy never finds a connection).
 * - A route that creates something from its body alone gets a body no schema accepts: every JSON object
 *   generated carries a top-level field no route knows, and the schemas are strict; a non-object JSON value or
 *   an empty body lacks their required fields.
 * - The OAuth popup start (`GET /oauth/connect/:key`) writes a session when valid; a generated query always
 *   holds an unknown, repeated or array parameter, which it refuses, and without a query it lacks connection_id.
 * - A request a route accepts (2xx/3xx: an odd header or an ignored body is tolerated; also when Node's parser
 *   then refuses the rest of the bytes and the client gets a 400) may still write its audit entry: the credentials read of `GET /config`, or the delete of an integration that does not exist
 *   (deletes are idempotent, as in Nango). Audit entries added by an accepted request are removed again and not
 *   counted. A refused request must not write even those, and no request may touch an existing row or write
 *   to any other table.
 */

const SECRET_KEY = 'sk-malformed-input-7f3a91';
const DASHBOARD_USER = 'operator';
const DASHBOARD_PASSWORD = 'dashboard-pass-51c0';
const SEED = Number(process.env['MALFORMED_INPUT_SEED'] ?? 424242);
const RUNS_PER_ROUTE = Number(process.env['MALFORMED_INPUT_RUNS'] ?? 8);
/** An answer slower than this is a hang for the property. */
const ANSWER_WITHIN_MS = 5_000;

/** Things the seeding creates: only GET and HEAD requests may name them. */
const INTEGRATION = 'local-prod';
const CONNECTION = 'user-1';
const PROVIDER = 'local-oauth';
const EXISTING = new Set([INTEGRATION, CONNECTION, PROVIDER, 'user-2', 'eu-1']);
const AUDIT_TABLE = '_custody_audit_log';

// ---------------------------------------------------------------------------------------------------------
// The app's own route list: every Fastify instance built in this file records the routes registered on it
// (an onRoute hook added as the instance is created) and, per request, which route served it, whether the
// route is still working on it and what it answered.
// ---------------------------------------------------------------------------------------------------------

interface RegisteredRoute {
  method: string;
  url: string;
}

const recorder = vi.hoisted(() => ({
  routes: [] as RegisteredRoute[],
  /** `METHOD url` of the routes that served at least one generated request. */
  reached: new Set<string>(),
  /** Ids of the requests a route is still handling: its last onSend hook (after the audit trail's) has not run. */
  handling: new Set<string>(),
  /** The statuses routes answered since the last reset (the client may see Node's 400 instead, see checkRequest). */
  answered: [] as number[],
}));

vi.mock('fastify', async (importOriginal) => {
  const actual = await importOriginal<typeof import('fastify')>();
  // fastify's factory is overloaded per server type; the app calls it with one options object, passed on unchanged.
  const factory = actual.default as unknown as (...args: unknown[]) => FastifyInstance;
  const recordingFastify = (...args: unknown[]): FastifyInstance => {
    const app = factory(...args);
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) recorder.routes.push({ method, url: route.url });
      // Route hooks run after the instance's: this one runs once the app's own onSend hooks (the audit write) are done.
      const done: onSendHookHandler = async (request, reply, payload) => {
        recorder.handling.delete(request.id);
        recorder.answered.push(reply.statusCode);
        return payload;
      };
      // Not done at onRequestAbort: a route may go on (and write its audit entry) after the client has gone.
      route.onSend = [...[route.onSend ?? []].flat(), done];
    });
    app.addHook('onRequest', async (request) => {
      if (request.routeOptions.url === undefined) return;
      recorder.reached.add(`${request.method} ${request.routeOptions.url}`);
      recorder.handling.add(request.id);
    });
    return app;
  };
  return { ...actual, default: recordingFastify, fastify: recordingFastify };
});

/** One integration, one connection, one connect session, one OAuth session and an audit entry, to leave untouched. */
async function seed(app: FastifyInstance): Promise<void> {
  const headers = { authorization: bearerAuth(SECRET_KEY) };
  const steps: [string, string, Record<string, unknown> | undefined, number][] = [
    ['POST', '/integrations', { unique_key: INTEGRATION, provider: PROVIDER, credentials: { type: 'OAUTH2', client_id: 'cid', client_secret: 'csecret', scopes: 'read' } }, 200],
    [
      'POST',
      '/connections',
      {
        provider_config_key: INTEGRATION,
        connection_id: CONNECTION,
        credentials: { type: 'OAUTH2', access_token: 'access-1', expires_at: '2099-01-01T00:00:00.000Z' },
        metadata: { plan: 'pro' },
        end_user: { id: 'eu-1', email: 'eu@example.com' },
        tags: { team: 'a' },
      },
      201,
    ],
    ['POST', '/connect/sessions', { end_user: { id: 'eu-1' }, allowed_integrations: [INTEGRATION] }, 201],
    ['GET', `/oauth/connect/${INTEGRATION}?connection_id=user-2`, undefined, 302],
    ['GET', '/config', undefined, 200],
  ];
  for (const [method, url, payload, status] of steps) {
    const response = await app.inject({ method: method as 'GET' | 'POST', url, headers, ...(payload ? { payload } : {}) });
    expect(response.statusCode, `${method} ${url}: ${response.body.slice(0, 300)}`).toBe(status);
  }
}

function uniqueRoutes(recorded: RegisteredRoute[]): RegisteredRoute[] {
  const seen = new Map<string, RegisteredRoute>();
  for (const route of recorded) seen.set(`${route.method} ${route.url}`, route);
  return [...seen.values()];
}

function listeningPort(app: FastifyInstance): number {
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('The app is not listening on a TCP port.');
  return address.port;
}

// ---------------------------------------------------------------------------------------------------------
// Tables: a fingerprint per request (one query), a full snapshot to say what changed and to put it back.
// ---------------------------------------------------------------------------------------------------------

async function tableNames(): Promise<{ schema: string; name: string }[]> {
  // A partitioned table (the audit trail's days) is read through its parent: its partitions are left out, so a row is seen once.
  const rows = (
    (await database.knex.raw(
      `SELECT n.nspname AS table_schema, c.relname AS table_name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
        ORDER BY 1, 2`,
    )) as { rows: { table_schema: string; table_name: string }[] }
  ).rows;
  const names = rows.map((row) => ({ schema: row.table_schema, name: row.table_name }));
  expect(names.map((table) => table.name)).toContain(AUDIT_TABLE);
  return names;
}

function quoted(table: { schema: string; name: string }): string {
  return `"${table.schema}"."${table.name}"`;
}

/** One digest per table of all its rows, in one round trip (a prepared statement on a client of its own: it runs after every request). */
async function fingerprint(): Promise<Record<string, string>> {
  const columns = tables.map((table, index) => `(SELECT coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM ${quoted(table)} t) AS c${index}`);
  const result = await probe.query<Record<string, string>>({ name: 'fingerprint', text: `SELECT ${columns.join(', ')}` });
  const row = result.rows[0] ?? {};
  return Object.fromEntries(tables.map((table, index) => [quoted(table), row[`c${index}`] ?? '']));
}

type Snapshot = Record<string, Record<string, unknown>[]>;

async function takeSnapshot(): Promise<Snapshot> {
  const snapshot: Snapshot = {};
  for (const table of tables) snapshot[quoted(table)] = (await database.knex.raw<{ rows: Record<string, unknown>[] }>(`SELECT * FROM ${quoted(table)} ORDER BY 1`)).rows;
  return snapshot;
}

/** What differs from the baseline, as text a person can read in the failure. */
function describeChanges(current: Snapshot): string {
  const lines: string[] = [];
  for (const [table, rows] of Object.entries(current)) {
    const before = new Set((baseline[table] ?? []).map((row) => JSON.stringify(row)));
    const after = new Set(rows.map((row) => JSON.stringify(row)));
    for (const row of after) if (!before.has(row)) lines.push(`+ ${table} ${row.slice(0, 400)}`);
    for (const row of before) if (!after.has(row)) lines.push(`- ${table} ${row.slice(0, 400)}`);
  }
  return lines.join('\n');
}

/** An exact copy of every table, kept in the database itself (timestamps keep their microseconds). */
const BASELINE_SCHEMA = 'malformed_input_baseline';

async function keepBaselineCopy(): Promise<void> {
  await database.knex.raw(`CREATE SCHEMA ${BASELINE_SCHEMA}`);
  for (const table of tables) await database.knex.raw(`CREATE TABLE ${BASELINE_SCHEMA}."${table.schema}.${table.name}" AS SELECT * FROM ${quoted(table)}`);
}

/** Puts every table back as it was, so one failure does not spoil the shrinking and the routes after it. */
async function restoreBaseline(): Promise<void> {
  await database.knex.transaction(async (trx) => {
    for (const table of tables) {
      await trx.raw(`DELETE FROM ${quoted(table)}`);
      await trx.raw(`INSERT INTO ${quoted(table)} SELECT * FROM ${BASELINE_SCHEMA}."${table.schema}.${table.name}"`);
    }
  });
}

/**
 * Checks that the request changed nothing, apart from audit entries of a request the server accepted (see
 * the file's comment), which are removed again. Returns a description of what changed, or undefined.
 */
async function unexpectedChanges(accepted: boolean): Promise<string | undefined> {
  const now = await fingerprint();
  const changed = Object.keys(now).filter((table) => now[table] !== baselineFingerprint[table]);
  if (changed.length === 0) return undefined;
  const auditTable = quoted(tables.find((table) => table.name === AUDIT_TABLE) ?? { schema: 'nango', name: AUDIT_TABLE });
  if (accepted && changed.length === 1 && changed[0] === auditTable) {
    await database.knex.raw(`DELETE FROM ${auditTable} WHERE id > ?`, [baselineAuditMaxId]);
    const again = await fingerprint();
    // Equal again: the request only added entries; otherwise it changed or deleted earlier ones.
    if (again[auditTable] === baselineFingerprint[auditTable]) return undefined;
  }
  const description = describeChanges(await takeSnapshot());
  await restoreBaseline();
  return description || `tables changed: ${changed.join(', ')}`;
}

// ---------------------------------------------------------------------------------------------------------
// Generators. Strings below are "wire text": one character per byte (latin1), so invalid UTF-8 can be sent.
// ---------------------------------------------------------------------------------------------------------

/** A JS string's UTF-8 bytes as wire text. */
function utf8(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** Unicode sent raw (its UTF-8 bytes, not percent-encoded), ASCII percent-encoded so it cannot break the request line. */
function rawUnicode(text: string): string {
  return utf8(text.replace(/[\u0000-\u007f]/g, (char) => encodeURIComponent(char).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)));
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

const notExisting = (text: string): boolean => !EXISTING.has(safeDecode(text)) && !EXISTING.has(text);

const graphemes = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 });
const invalidUtf8 = fc.uint8Array({ minLength: 1, maxLength: 12, min: 0x80, max: 0xff }).map((bytes) => Buffer.from(bytes).toString('latin1'));
const hugeLength = fc.oneof(fc.constantFrom(255, 256, 999, 1000, 1001, 2001, 4096), fc.integer({ min: 256, max: 9_000 }));

/** A name nothing exists under. */
const missingRef = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,24}$/).map((text) => `missing-${text}`);

/** A path segment or query value that is odd on the wire; never the name of something that exists. */
const oddText = fc
  .oneof(
    fc.constantFrom(
      '%2F', 'a%2Fb', '%2f..%2f', '..', '.', '%2e%2e', '%2E', '...', '%00', 'a%00b', '%1F', '%7F', '%0A', '%0D%0A', '%zz', '%', 'a%', '%E0%A4%A',
      '%C0%AF', '%ED%A0%80', '%FF', '%EF%BF%BF', '%F0%9F%98%80', '%EF%BB%BF', ';', 'a;b=c', '%3B', '%3F', '%23', '%20', '+', '%2B', '~', '*', ':',
      '%3A', '@', '%5C', '%25', '%2525', 'null', 'undefined', 'NaN', '-1', '0', '1e309', 'true', '[]', '{}', '%5B%5D', '__proto__', 'constructor',
      'a.svg', '.svg', '..svg', 'index.html', 'x'.repeat(255),
    ),
    graphemes.map(encodeURIComponent),
    graphemes.map(rawUnicode),
    invalidUtf8,
    hugeLength.map((length) => 'x'.repeat(length)),
  )
  .filter(notExisting);

/** A path segment for a `:param`: odd, or well-formed and naming nothing, or (GET/HEAD only) something that exists. */
function segmentFor(readOnly: boolean): fc.Arbitrary<string> {
  return readOnly
    ? fc.oneof({ arbitrary: oddText, weight: 4 }, { arbitrary: missingRef, weight: 2 }, { arbitrary: fc.constantFrom(INTEGRATION, CONNECTION, PROVIDER, 'github'), weight: 2 })
    : fc.oneof({ arbitrary: oddText, weight: 4 }, { arbitrary: missingRef, weight: 2 });
}

/** What follows a `*`: several segments, with empty ones (`//`), dot segments and odd ones. */
function tailFor(readOnly: boolean): fc.Arbitrary<string> {
  return fc
    .array(fc.oneof(segmentFor(readOnly), fc.constantFrom('', '..', '.', '%2e%2e', 'assets', 'index.html', 'favicon.svg')), { maxLength: 5 })
    .map((segments) => segments.join('/'));
}

function pathFor(route: RegisteredRoute, readOnly: boolean): fc.Arbitrary<string> {
  const parts = route.url.split(/(:[A-Za-z0-9_]+|\*)/).filter((part) => part !== '');
  return fc.tuple(...parts.map((part) => (part === '*' ? tailFor(readOnly) : part.startsWith(':') ? segmentFor(readOnly) : fc.constant(part)))).map((values) => values.join(''));
}

/** The route's path with well-formed segments: naming nothing, or (GET/HEAD only) something that exists. */
function plainPathFor(route: RegisteredRoute, readOnly: boolean): fc.Arbitrary<string> {
  const segment = readOnly ? fc.oneof(missingRef, fc.constantFrom(INTEGRATION, CONNECTION, PROVIDER)) : missingRef;
  const parts = route.url.split(/(:[A-Za-z0-9_]+|\*)/).filter((part) => part !== '');
  return fc.tuple(...parts.map((part) => (part === '*' ? fc.array(segment, { maxLength: 3 }).map((segments) => segments.join('/')) : part.startsWith(':') ? segment : fc.constant(part)))).map((values) => values.join(''));
}

/** Query parameters some route reads (values are still generated odd). */
const KNOWN_QUERY_KEYS = [
  'provider_config_key', 'connection_id', 'connectionId', 'force_refresh', 'refresh_token', 'refresh_github_app_jwt_token', 'include', 'include[]',
  'limit', 'page', 'search', 'integrationId', 'endUserId', 'endUserOrganizationId', 'cursor', 'since', 'until', 'action', 'principal', 'integration',
  'status', 'public_key', 'hmac', 'connect_session_token', 'user_scope', 'ws_client_id', 'params[subdomain]', 'authorization_params[prompt]',
  'credentials[apiKey]', 'tags[team]', 'state', 'code', 'error', 'oauth_token', 'oauth_verifier', 'session_token', 'apiURL',
];

/** A parameter name no route reads. */
const unknownKey = fc.oneof(
  fc.constantFrom('unexpected', 'zz', 'X_FUZZ', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '%zz', 'a%zz', '%E0%A4%A', '%00', 'a%00', '%5B%5D', 'a[', 'a]', '[a]', 'a[b][c]', '', '%20', '%2B', '+', '.', '..', '%C0%AF', '%FF'),
  fc.stringMatching(/^[a-z_]{1,12}$/).map((name) => `zz_${name}`),
  graphemes.map((text) => `zz${encodeURIComponent(text)}`),
  graphemes.map((text) => `zz${rawUnicode(text)}`),
  hugeLength.map((length) => `k${'k'.repeat(length)}`),
);

function queryValue(readOnly: boolean): fc.Arbitrary<string> {
  return readOnly ? fc.oneof(oddText, missingRef, fc.constantFrom(INTEGRATION, CONNECTION, 'true', 'credentials', 'webhook', '100', '2026-01-01T00:00:00Z')) : fc.oneof(oddText, missingRef);
}

/**
 * A query string with at least one parameter no route accepts: unknown, repeated, or in array syntax. (Only
 * `&` separates: after a `;` an unknown parameter would become part of the value of the one before it.)
 */
function queryFor(readOnly: boolean): fc.Arbitrary<string> {
  const value = queryValue(readOnly);
  const anyKey = fc.oneof(unknownKey, fc.constantFrom(...KNOWN_QUERY_KEYS));
  const bad = fc.oneof(
    fc.tuple(unknownKey, value).map(([key, v]) => `${key}=${v}`),
    // A bare name is a parameter too, unless empty (`?&` has none).
    unknownKey.filter((key) => key !== ''),
    fc.tuple(unknownKey, value, fc.constantFrom('[]', '[0]', '[a][b]', '%5B%5D')).map(([key, v, brackets]) => `${key}${brackets}=${v}`),
    fc.tuple(anyKey, value, value).map(([key, v1, v2]) => `${key}=${v1}&${key}=${v2}`),
    fc.tuple(unknownKey, fc.integer({ min: 2, max: 400 })).map(([key, times]) => Array.from({ length: times }, (_, index) => `${key}=${index}`).join('&')),
  );
  const benign = fc.tuple(fc.constantFrom(...KNOWN_QUERY_KEYS), value).map(([key, v]) => `${key}=${v}`);
  return fc
    .tuple(fc.array(bad, { minLength: 1, maxLength: 3 }), fc.array(benign, { maxLength: 3 }), fc.constantFrom('&', '&', '&&'), fc.constantFrom('?', '?', '?', '??', '?&'))
    .chain(([bads, benigns, separator, start]) => fc.shuffledSubarray([...bads, ...benigns], { minLength: bads.length + benigns.length }).map((parts) => `${start}${parts.join(separator)}`));
}

type Header = [name: string, value: string];

function base64(text: string): string {
  return Buffer.from(text, 'latin1').toString('base64');
}

/** The credentials a route's family takes: dashboard Basic for `/api/v1/*` and the dashboard pages, the secret key elsewhere. */
function validAuthorizations(route: RegisteredRoute): [string, ...string[]] {
  if (route.url.startsWith('/api/v1') || route.url === '/' || route.url === '/*') return [`Basic ${base64(`${DASHBOARD_USER}:${DASHBOARD_PASSWORD}`)}`];
  return [bearerAuth(SECRET_KEY), `Basic ${base64(`${SECRET_KEY}:`)}`];
}

const oddAuthorization = fc.oneof(
  fc.constantFrom(
    '', ' ', 'Bearer', 'Bearer ', 'bearer', 'Basic', 'Basic ', 'Basic !!!!', 'Basic ====', `Basic ${base64('no-colon')}`, `Basic ${base64(':')}`,
    `Basic ${base64(`${DASHBOARD_USER}:`)}`, `Basic ${base64(`:${DASHBOARD_PASSWORD}`)}`, 'Digest username="x", realm="y"', 'Token abc', 'Bearer a b',
    `Bearer\t${SECRET_KEY}`, `  Bearer   ${SECRET_KEY}  `, `BEARER ${SECRET_KEY}`, `Bearer ${SECRET_KEY}x`, `Bearer ${SECRET_KEY} ${SECRET_KEY}`,
    `Bearer ${SECRET_KEY.toUpperCase()}`, 'Bearer nango_connect_session_', 'Bearer nango_connect_session_zz', `Bearer nango_connect_session_${'ab'.repeat(32)}`,
    `Bearer nango_connect_session_${'AB'.repeat(32)}`, `Bearer nango_connect_session_${'a'.repeat(65)}`, 'Bearer %00', 'Bearer null', 'Basic Og==',
  ),
  invalidUtf8.map((bytes) => `Bearer ${bytes}`),
  invalidUtf8.map((bytes) => `Basic ${base64(`${bytes}:${bytes}`)}`),
  hugeLength.map((length) => `Bearer ${'k'.repeat(length)}`),
  fc.string({ unit: 'binary-ascii', maxLength: 40 }).map((text) => text.replace(/[\u0000-\u001f\u007f]/g, '')),
);

const CONTENT_TYPES = [
  'application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'application/json;charset=latin1', 'APPLICATION/JSON',
  'application/json; charset="utf-8"; boundary=x', 'application/json, text/plain', 'application/jsonx', 'application/vnd.api+json', 'text/plain',
  'text/plain; charset=utf-7', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=zz', 'multipart/form-data', 'application/octet-stream',
  '*/*', '', ';', 'a b', 'application/', '/json', 'application/json; charset', 'application/json; =', `${utf8('á')}pplication/json`, 'text/html',
];
const oddContentType = fc.oneof(fc.constantFrom(...CONTENT_TYPES), invalidUtf8.map((bytes) => `application/json; charset=${bytes}`));

/** A header value naming nothing that exists (the proxy's Connection-Id / Provider-Config-Key included). */
const oddHeaderValue = fc.oneof(oddText, missingRef, invalidUtf8, hugeLength.map((length) => 'v'.repeat(length)));

const oddHeaders: fc.Arbitrary<Header[]> = fc.oneof(
  fc.tuple(fc.constantFrom('connection-id', 'provider-config-key', 'base-url-override', 'retries', 'decompress', 'retry-on', 'nango-proxy-x-test', 'nango-activity-log-id', 'nango-is-sync'), oddHeaderValue).map((header): Header[] => [header]),
  fc.constantFrom<Header[]>(
    [['base-url-override', 'http://127.0.0.1:1/']], [['base-url-override', 'javascript:alert(1)']], [['base-url-override', 'http://user:pass@example.com/']],
    [['retries', '99999999']], [['retries', '-1']], [['decompress', 'maybe']], [['retry-on', '500,abc']],
    [['user-agent', 'nango-node-client/0.71.10']], [['user-agent', 'nango-node-client/0.16.0']], [['accept', 'application/xml;q=0']], [['accept-encoding', 'gzip;q=2, zstd, *']],
    [['accept-charset', 'utf-7']], [['origin', 'null']], [['origin', 'https://evil.example']], [['access-control-request-method', 'DELETE'], ['origin', 'https://x.example']],
    [['x-forwarded-for', 'not-an-ip, ::ffff:zz']], [['cookie', '=; ;;=x']], [['range', 'bytes=-1']], [['if-none-match', '*']], [['upgrade', 'h2c']],
    [['content-encoding', 'gzip']], [['content-encoding', 'br, deflate, x']], [['transfer-encoding', 'identity']],
  ),
  fc.tuple(fc.constantFrom('x-fuzz', 'user-agent', 'accept', 'referer', 'origin', 'x-forwarded-for'), oddHeaderValue).map((header): Header[] => [header]),
  fc.integer({ min: 1_000, max: 12_000 }).map((length): Header[] => [['x-huge', 'h'.repeat(length)]]),
  fc.integer({ min: 20, max: 150 }).map((count): Header[] => Array.from({ length: count }, (_, index): Header => [`x-many-${index}`, String(index)])),
);

/** Lines Node's HTTP parser must refuse (a 400 from the server, not from a route). */
const brokenHeaderLine = fc.constantFrom('Bad Header: x', 'NoColon', ': empty-name', 'X-Folded: a\r\n  folded', 'X-Nul: a\u0000b', 'X-Bare-CR: a\rb', 'X-Tab\t: x', `X-Del${'\u007f'}: x`);

// Bodies -----------------------------------------------------------------------------------------------------

interface Body {
  bytes: Buffer;
  contentType: string | undefined;
  what: string;
}

/** Field names the routes know, so wrong types meet real validation (every object also gets an unknown field). */
const KNOWN_FIELDS = [
  'provider_config_key', 'provider', 'oauth_client_id', 'oauth_client_secret', 'oauth_scopes', 'connection_id', 'type', 'access_token', 'refresh_token',
  'expires_at', 'expires_in', 'metadata', 'connection_config', 'raw', 'unique_key', 'display_name', 'credentials', 'forward_webhooks', 'end_user', 'tags',
  'organization', 'allowed_integrations', 'integrations_config_defaults', 'overrides', 'webhook_url_override', 'integration_id', 'integration', 'endUserId',
  'apiKey', 'username', 'password', 'client_id', 'client_secret', 'scopes', 'oauth_token', 'oauth_token_secret',
];
const UNKNOWN_FIELDS = ['zz_unexpected', 'extra', 'Provider_Config_Key', 'provider_config_key ', 'zz\u0000', '', ' ', 'zz.dotted', 'zz[0]', 'ünïcode', '😀'];

const jsonText: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value) ?? 'null'), weight: 4 },
  fc.constantFrom('1e308', '-1e308', '1e999', '-0', '12345678901234567890123', '0.1e-400', '"\\u0000"', '"a\\u0000b"', '"\\ud800"', '"\\udfff\\ud800"', '"\\uFFFF"', '"\\u202e"', '[]', '{}', '""', 'null', 'true'),
  hugeLength.map((length) => JSON.stringify('x'.repeat(length * 20))),
  fc.integer({ min: 2, max: 20_000 }).map((count) => `[${'1,'.repeat(count)}1]`),
  fc.constantFrom(10, 63, 64, 65, 1_000, 100_000).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`),
  fc.constantFrom(10, 64, 65, 5_000).map((depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
  graphemes.map((text) => JSON.stringify(text)),
);

/** A JSON object with at least one field no route knows, written as text (so keys such as "__proto__" stay literal). */
const objectWithUnknownField = fc
  .tuple(fc.array(fc.tuple(fc.constantFrom(...KNOWN_FIELDS), jsonText), { maxLength: 6 }), fc.constantFrom(...UNKNOWN_FIELDS), jsonText)
  .chain(([known, unknownName, unknownValue]) => fc.shuffledSubarray([...known, [unknownName, unknownValue] as [string, string]], { minLength: known.length + 1 }))
  .map((fields) => `{${fields.map(([name, value]) => `${JSON.stringify(name)}:${value}`).join(',')}}`);

const BAD_JSON = [
  '{', '{"provider_config_key": ', '{"a":1} trailing', "{'a':1}", '[1,]', '{"a":1,}', 'NaN', 'undefined', '\uFEFF{"a":1}', '{"a":"a\u0000b"}', '{"a"\u0000:1}',
  '{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}', '{"a":1}{"b":2}', '{"a":01}', '{"a":.5}', '{"a":"\\x41"}', '{"a":"\\u12"}',
  '{"a":tru}', '{"a":"unterminated}', '\t', '"', '{"a":1}\u0000', '{"a":Infinity}', '{a:1}', '/* c */{}', '{"a":1}\n\n\n', '{"a":"line\nbreak"}',
];

function jsonBody(text: fc.Arbitrary<string>, what: string): fc.Arbitrary<Body> {
  return fc.tuple(text, fc.oneof({ arbitrary: fc.constant('application/json'), weight: 3 }, oddContentType)).map(([body, contentType]) => ({ bytes: Buffer.from(body, 'utf8'), contentType, what }));
}

const body: fc.Arbitrary<Body | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 4 },
  { arbitrary: jsonBody(objectWithUnknownField, 'an object with an unknown field'), weight: 4 },
  jsonBody(fc.constantFrom(...BAD_JSON), 'malformed JSON'),
  // Not an object at the top (objects come with an unknown field, above): a random object could happen to be valid.
  jsonBody(jsonText.filter((text) => !text.startsWith('{')), 'a JSON value that is not an object'),
  jsonBody(fc.constantFrom('', ' ', '\r\n'), 'an empty body'),
  fc.tuple(invalidUtf8, fc.constantFrom('application/json', 'application/json; charset=utf-8')).map(([bytes, contentType]) => ({ bytes: Buffer.from(`{"zz_unexpected":"${bytes}","provider":"${bytes}"}`, 'latin1'), contentType, what: 'invalid UTF-8' })),
  objectWithUnknownField.map((text) => ({ bytes: Buffer.from(text, 'utf16le'), contentType: 'application/json; charset=utf-16', what: 'UTF-16 JSON' })),
  fc.constantFrom(1_048_577, 1_100_000).map((size) => ({ bytes: Buffer.from(`{"zz_unexpected":"${'x'.repeat(size)}"}`), contentType: 'application/json', what: 'a body over the limit' })),
  fc.tuple(fc.uint8Array({ maxLength: 200 }), oddContentType).map(([bytes, contentType]) => ({ bytes: Buffer.from(bytes), contentType, what: 'random bytes' })),
  fc.constantFrom<Body>(
    { bytes: Buffer.from('provider_config_key=a&provider=github'), contentType: 'application/x-www-form-urlencoded', what: 'a form' },
    { bytes: Buffer.from('--zz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--zz--\r\n'), contentType: 'multipart/form-data; boundary=zz', what: 'multipart' },
    { bytes: Buffer.from('{"zz_unexpected":1}'), contentType: 'text/plain', what: 'JSON as text/plain' },
    { bytes: Buffer.from('{"zz_unexpected":1}'), contentType: undefined, what: 'JSON without a content type' },
  ),
);

// Framing ----------------------------------------------------------------------------------------------------

type Framing =
  | 'exact' | 'no-length' | 'short-length' | 'long-length' | 'bad-length' | 'two-lengths' | 'chunked' | 'bad-chunk-size'
  | 'unterminated-chunks' | 'chunked-and-length' | 'te-gzip' | 'expect-continue' | 'http-1.0';

const framing = fc.oneof(
  { arbitrary: fc.constant<Framing>('exact'), weight: 12 },
  fc.constantFrom<Framing>('no-length', 'short-length', 'long-length', 'bad-length', 'two-lengths', 'chunked', 'bad-chunk-size', 'unterminated-chunks', 'chunked-and-length', 'te-gzip', 'expect-continue', 'http-1.0'),
);
/** Framings that announce more than they send: the server may close without an answer, but must not wait forever. */
const INCOMPLETE: ReadonlySet<Framing> = new Set(['long-length', 'unterminated-chunks']);

// The request --------------------------------------------------------------------------------------------------

interface GeneratedRequest {
  /** Which parts were generated malformed (the others are plain). */
  malformed: MalformedPart[];
  method: string;
  target: string;
  host: string | undefined;
  headers: Header[];
  brokenLine: string | undefined;
  body: Body | undefined;
  framing: Framing;
}

const toStringMethod = fc.toStringMethod;

function describeRequest(request: GeneratedRequest): string {
  const cut = (text: string, max = 160) => (text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text);
  const headers = request.headers.map(([name, value]) => `${name}: ${cut(JSON.stringify(value).slice(1, -1), 80)}`);
  const lines = [
    `${request.method} ${cut(JSON.stringify(request.target).slice(1, -1))} (${request.framing}; malformed: ${request.malformed.join(', ')})`,
    ...(request.host === undefined ? ['(no Host)'] : [`host: ${cut(request.host, 80)}`]),
    ...headers.slice(0, 12),
    ...(headers.length > 12 ? [`… ${headers.length - 12} more headers`] : []),
    ...(request.brokenLine !== undefined ? [`broken line: ${JSON.stringify(request.brokenLine)}`] : []),
    request.body ? `body: ${request.body.what}, ${request.body.bytes.length} bytes, content-type ${JSON.stringify(request.body.contentType)}: ${cut(JSON.stringify(request.body.bytes.toString('latin1')), 200)}` : 'no body',
  ];
  return lines.join('\n  ');
}

function withDescription(request: GeneratedRequest): GeneratedRequest {
  return Object.assign(request, { [toStringMethod]: () => describeRequest(request) });
}

type MalformedPart = 'path' | 'query' | 'auth' | 'headers' | 'body' | 'framing' | 'host';

/**
 * A request to one route with at least one malformed part (path, query, headers, body or framing); the other
 * parts are plain: the right credentials, no query, no body.
 */
function requestFor(route: RegisteredRoute): fc.Arbitrary<GeneratedRequest> {
  const readOnly = route.method === 'GET' || route.method === 'HEAD';
  // Mostly one malformed part at a time, so that each reaches the layer that parses it; sometimes several together.
  const part = fc.oneof(
    { arbitrary: fc.constantFrom<MalformedPart>('path', 'query', 'body'), weight: 3 },
    { arbitrary: fc.constantFrom<MalformedPart>('auth', 'headers'), weight: 2 },
    { arbitrary: fc.constantFrom<MalformedPart>('framing', 'host'), weight: 1 },
  );
  const malformed = fc.oneof({ arbitrary: part.map((one) => [one]), weight: 3 }, fc.uniqueArray(part, { minLength: 2, maxLength: 4 })).map((list) => {
    const chosen = new Set(list);
    return { list: [...chosen], path: chosen.has('path'), query: chosen.has('query'), auth: chosen.has('auth'), headers: chosen.has('headers'), body: chosen.has('body'), framing: chosen.has('framing'), host: chosen.has('host') };
  });
  return malformed.chain((parts) =>
    fc
      .record({
        path: parts.path ? pathFor(route, readOnly) : plainPathFor(route, readOnly),
        query: parts.query ? queryFor(readOnly) : fc.constant(''),
        authorization: parts.auth ? fc.option(oddAuthorization, { nil: undefined }) : fc.constantFrom(...validAuthorizations(route)),
        headers: parts.headers ? fc.array(oddHeaders, { minLength: 1, maxLength: 3 }).map((groups) => groups.flat()) : fc.constant([] as Header[]),
        contentType: parts.headers ? fc.option(oddContentType, { nil: undefined }) : fc.constant(undefined),
        brokenLine: parts.headers ? fc.oneof({ arbitrary: fc.constant(undefined), weight: 6 }, brokenHeaderLine) : fc.constant(undefined),
        body: parts.body ? body : fc.constant(undefined),
        framing: parts.framing ? framing : fc.constant<Framing>('exact'),
        host: parts.host ? fc.option(fc.oneof(fc.constantFrom('', 'evil.example', 'a b', '[::1', '127.0.0.1:0', 'h'.repeat(1000), `127.0.0.1:${port}, other`), invalidUtf8), { nil: undefined }) : fc.constant(`127.0.0.1:${port}`),
      })
      .map(({ path, query, authorization, headers, contentType, brokenLine, body: generatedBody, framing: generatedFraming, host }) => {
        const allHeaders: Header[] = [
          ...(authorization !== undefined ? [['authorization', authorization] as Header] : []),
          ...(contentType !== undefined && generatedBody === undefined ? [['content-type', contentType] as Header] : []),
          ...headers,
        ];
        return withDescription({ malformed: parts.list, method: route.method, target: `${path}${query}`, host, headers: allHeaders, brokenLine, body: generatedBody, framing: generatedFraming });
      }),
  );
}

/** The bytes on the wire. */
function encode(request: GeneratedRequest): { bytes: Buffer; halfClose: boolean } {
  const version = request.framing === 'http-1.0' ? 'HTTP/1.0' : 'HTTP/1.1';
  const lines = [`${request.method} ${request.target} ${version}`];
  if (request.host !== undefined) lines.push(`Host: ${request.host}`);
  lines.push('Connection: close');
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  if (request.brokenLine !== undefined) lines.push(request.brokenLine);
  const payload = request.body?.bytes ?? Buffer.alloc(0);
  if (request.body?.contentType !== undefined) lines.push(`Content-Type: ${request.body.contentType}`);
  let bodyBytes = payload;
  switch (request.framing) {
    case 'exact':
    case 'http-1.0':
      if (request.body) lines.push(`Content-Length: ${payload.length}`);
      break;
    case 'expect-continue':
      lines.push('Expect: 100-continue', `Content-Length: ${payload.length}`);
      break;
    case 'no-length':
      break;
    case 'short-length':
      lines.push(`Content-Length: ${Math.max(0, payload.length - 3)}`);
      break;
    case 'long-length':
      lines.push(`Content-Length: ${payload.length + 10}`);
      break;
    case 'bad-length':
      lines.push(`Content-Length: ${['abc', '-1', '1.5', ' 10', '0x10', '99999999999999999999', '', '+5'][payload.length % 8]}`);
      break;
    case 'two-lengths':
      lines.push(`Content-Length: ${payload.length}`, `Content-Length: ${payload.length + 1}`);
      break;
    case 'chunked':
      lines.push('Transfer-Encoding: chunked');
      bodyBytes = chunked(payload, true);
      break;
    case 'bad-chunk-size':
      lines.push('Transfer-Encoding: chunked');
      bodyBytes = Buffer.concat([Buffer.from('zz\r\n'), payload, Buffer.from('\r\n0\r\n\r\n')]);
      break;
    case 'unterminated-chunks':
      lines.push('Transfer-Encoding: chunked');
      bodyBytes = chunked(payload, false);
      break;
    case 'chunked-and-length':
      lines.push('Transfer-Encoding: chunked', `Content-Length: ${payload.length}`);
      bodyBytes = chunked(payload, true);
      break;
    case 'te-gzip':
      lines.push('Transfer-Encoding: gzip', `Content-Length: ${payload.length}`);
      break;
  }
  return { bytes: Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), bodyBytes]), halfClose: INCOMPLETE.has(request.framing) };
}

function chunked(payload: Buffer, terminated: boolean): Buffer {
  const parts: Buffer[] = [];
  for (let offset = 0; offset < payload.length; offset += 64 * 1024) {
    const chunk = payload.subarray(offset, offset + 64 * 1024);
    parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
  }
  if (terminated) parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------------------
// The property.
// ---------------------------------------------------------------------------------------------------------

/**
 * Nango's sync/action/records routes answer 501 not_supported to everyone: their documented answer, not a
 * failure. A HEAD answer has no body to tell, so the same request is asked again as a GET.
 */
async function isNotSupportedAnswer(request: GeneratedRequest, answer: RawAnswer): Promise<boolean> {
  if (answer.status !== 501) return false;
  let body = answer.body;
  if (request.method === 'HEAD') {
    const { bytes, halfClose } = encode({ ...request, method: 'GET' });
    body = (await rawRequest(port, bytes, { timeoutMs: ANSWER_WITHIN_MS, halfClose })).body;
  }
  const parsed = parseJson(body);
  return isRecord(parsed) && isRecord(parsed['error']) && parsed['error']['code'] === 'not_supported';
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The API's two error shapes: seed `{error, type, payload}` and modern `{error: {code, message, errors?, payload?}}`. */
function isApiErrorBody(value: unknown): boolean {
  if (!isRecord(value)) return false;
  if (typeof value['error'] === 'string') return typeof value['type'] === 'string' && isRecord(value['payload']) && Object.keys(value).length === 3;
  const error = value['error'];
  return isRecord(error) && typeof error['code'] === 'string' && typeof error['message'] === 'string' && Object.keys(value).length === 1;
}

/**
 * Node's HTTP parser refusing the bytes (a broken header line, a header block over Node's limit, an invalid
 * Transfer-Encoding): Fastify's client-error answer, written before or beside any route, recognised by its
 * fixed messages (a route's error never has them).
 */
const CLIENT_ERROR_MESSAGES = new Set(['Client Error', 'Exceeded maximum allowed HTTP header size', 'Client Timeout']);

function isClientErrorBody(value: unknown): boolean {
  return isRecord(value) && Object.keys(value).sort().join() === 'error,message,statusCode' && CLIENT_ERROR_MESSAGES.has(String(value['message']));
}

/** /health over a kept-alive connection (it runs after every request). */
async function health(): Promise<number | string> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(ANSWER_WITHIN_MS) });
    await response.arrayBuffer();
    return response.status;
  } catch (error) {
    return String(error);
  }
}

/** Longest the app may go on working on a request after the client has its answer (or its connection closed). */
const SETTLE_WITHIN_MS = 3_000;

/** Waits until no route is working on a request any more; false if one still is after SETTLE_WITHIN_MS. */
async function appSettled(): Promise<boolean> {
  const until = Date.now() + SETTLE_WITHIN_MS;
  while (recorder.handling.size > 0) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return true;
}

/** Sends one generated request and checks every promise; throws (for fast-check) with what went wrong. */
async function checkRequest(request: GeneratedRequest): Promise<void> {
  const { bytes, halfClose } = encode(request);
  recorder.answered = [];
  const answer = await rawRequest(port, bytes, { timeoutMs: ANSWER_WITHIN_MS + 1_000, bodyless: request.method === 'HEAD', halfClose });
  const problems: string[] = [];
  if (answer.ending === 'timeout' || answer.ms > ANSWER_WITHIN_MS) problems.push(`no answer within ${ANSWER_WITHIN_MS} ms (${answer.ms} ms, ${answer.ending})`);
  else if (answer.status === undefined && !halfClose) problems.push('the connection closed without an answer');
  if (answer.status !== undefined && answer.status >= 500 && !(await isNotSupportedAnswer(request, answer))) problems.push(`answered ${answer.status}: ${answer.body.toString('utf8').slice(0, 300)}`);
  if (answer.status !== undefined && answer.status >= 400 && /json/.test(answer.headers['content-type'] ?? '') && request.method !== 'HEAD') {
    const parsed = parseJson(answer.body);
    if (!isApiErrorBody(parsed) && !isClientErrorBody(parsed)) problems.push(`a ${answer.status} whose body is in neither error shape: ${answer.body.toString('utf8').slice(0, 300)}`);
  }
  // Node may refuse the framing of a body-less request (GET with `Transfer-Encoding: identity`) while the route
  // already serves it: the client then sees Node's 400, the route its own answer. Both must be done before
  // the tables are compared, and a route's own acceptance counts as acceptance.
  if (!(await appSettled())) problems.push(`a route was still handling the request ${SETTLE_WITHIN_MS} ms after the answer`);
  const accepted = (answer.status !== undefined && answer.status < 400) || recorder.answered.some((status) => status < 400);
  const changes = await unexpectedChanges(accepted);
  if (changes) problems.push(`rows changed:\n${changes}`);
  const alive = await health();
  if (alive !== 200) problems.push(`/health then answered ${alive}`);
  if (problems.length > 0) {
    const logs = test.logs.slice(-5).join('').slice(0, 2_000);
    throw new Error(`${problems.join('\n')}\nstatus ${answer.status ?? '-'} after ${answer.ms} ms${logs ? `\nserver log (last lines):\n${logs}` : ''}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The app under test, listening on a loopback port of its own. Built at collection time, so that the tests
// below can be one per route the app registers.
// ---------------------------------------------------------------------------------------------------------

// Nothing listens there: a request that wrongly reached a provider would fail, never leave the machine.
const closedPort = await freePort();
const { catalog } = catalogWith({
  [PROVIDER]: {
    display_name: 'Local test provider',
    categories: ['other'],
    auth_mode: 'OAUTH2',
    authorization_url: `http://127.0.0.1:${closedPort}/authorize`,
    token_url: `http://127.0.0.1:${closedPort}/token`,
    proxy: { base_url: `http://127.0.0.1:${closedPort}` },
    docs: 'https://example.com/docs',
  },
});
// The pages are served as an installed server serves them (built by `npm start`), not as the "not built" 503.
ensureWebBuild();
const database = await createTestDatabase();
const test = await buildTestApp(
  database,
  {
    NANGO_SECRET_KEY: SECRET_KEY,
    NANGO_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    NANGO_DASHBOARD_USERNAME: DASHBOARD_USER,
    NANGO_DASHBOARD_PASSWORD: DASHBOARD_PASSWORD,
    // Thousands of refused keys from one address: the limiter would answer 429 before validation runs.
    NANGO_AUTH_FAILURE_LIMIT: '0',
    LOG_LEVEL: 'warn',
  },
  { providers: catalog },
);
const routes: RegisteredRoute[] = uniqueRoutes(recorder.routes);
await seed(test.app);
await test.app.listen({ host: '127.0.0.1', port: 0 });
const port = listeningPort(test.app);
const tables = await tableNames();
const probe = new pg.Client(database.connection);
await probe.connect();
const baseline = await takeSnapshot();
const baselineFingerprint = await fingerprint();
const baselineAuditMaxId = Math.max(0, ...Object.entries(baseline).filter(([table]) => table.endsWith(`"${AUDIT_TABLE}"`)).flatMap(([, rows]) => rows.map((row) => Number(row['id']))));
await keepBaselineCopy();

afterAll(async () => {
  await probe.end();
  await test.close();
  await database.drop();
});

/** The run's seed mixed with the route (FNV-1a of `METHOD url`): stable when routes are added elsewhere. */
function routeSeed(route: RegisteredRoute): number {
  let hash = 0x811c9dc5;
  for (const char of `${route.method} ${route.url}`) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193);
  return (SEED ^ hash) | 0;
}

describe('malformed requests on every route: no 5xx, no hang, the server stays up, no row changes', () => {
  it('runs on the routes the app itself registers', () => {
    expect(routes.length).toBeGreaterThan(40);
    for (const expected of ['GET /config', 'POST /connection', 'POST /integrations', 'GET /connections/:connectionId', 'POST /proxy/*', 'GET /api/v1/integration']) {
      expect(routes.map((route) => `${route.method} ${route.url}`)).toContain(expected);
    }
  });

  it.each(routes.map((route) => [`${route.method} ${route.url}`, route] as const))('%s', async (_name, route) => {
    // One example always reaches the route itself (plain path, an unknown query parameter), so coverage never depends on luck.
    const reachingExample = withDescription({
      malformed: ['query'],
      method: route.method,
      target: `${route.url.replace(/:[A-Za-z0-9_]+/g, 'missing-thing').replace('*', 'missing/thing')}?zz_unexpected=1`,
      host: `127.0.0.1:${port}`,
      headers: [['authorization', validAuthorizations(route)[0]]],
      brokenLine: undefined,
      body: undefined,
      framing: 'exact',
    });
    // Each route its own seed (derived from the run's seed and the route), so routes do not all get the same few requests.
    await fc.assert(fc.asyncProperty(requestFor(route), checkRequest), {
      seed: routeSeed(route),
      numRuns: RUNS_PER_ROUTE,
      examples: [[reachingExample]],
      // A handful of runs per route: without this every run would be one of fast-check's smallest, near-identical values.
      plugins: [fc.unbiased()],
      reporter: (details) => {
        if (details.failed) throw new Error(`${fc.defaultReportMessage(details) ?? 'The property failed.'}\n${String(details.errorInstance)}\nReplay: MALFORMED_INPUT_SEED=${SEED} npx vitest run test/malformed-input-property.test.ts -t '${route.method} ${route.url}'`);
      },
    });
    expect(recorder.reached, `no generated request reached ${route.method} ${route.url}`).toContain(`${route.method} ${route.url}`);
  }, 60_000);

  it('leaves the tables exactly as they were seeded', async () => {
    expect(await fingerprint()).toEqual(baselineFingerprint);
  });
});

describe('found by the property', () => {
  // /metrics was registered before the root error handler was set, so its refusals came in Fastify's own
  // `{statusCode, code, error, message}` instead of the API's error shape.
  it('refuses /metrics without the secret key in the seed error shape', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: expect.stringMatching(/secret key/), type: 'missing_auth_header', payload: {} });
  });

  it('refuses /metrics with a wrong secret key in the seed error shape', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: bearerAuth('not-the-key') } });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: expect.stringMatching(/secret key/), type: 'invalid_secret_key', payload: {} });
  });
});
