import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { ApiError } from '../errors.js';
import { shortPath } from '../logger.js';
import { PACKAGE_ROOT } from '../package-root.js';
import { dashboardGuard, dashboardSignIn } from '../plugins/dashboard-auth.js';
import { READS_QUERY } from '../plugins/query-guard.js';
import { adoptFamily, familyMountedAt, WEB_FAMILY } from './route-families.js';

/** Where `npm run build:web` writes the dashboard and the Connect UI. */
export const WEB_ROOT = path.join(PACKAGE_ROOT, 'dist', 'web');

export interface StaticWebOptions {
  config: Pick<Config, 'serverUrl' | 'publicConnectUrl' | 'callbackUrl' | 'dashboard'> & Partial<Pick<Config, 'secretKey'>>;
  /** The built web UI (default `dist/web`). */
  root?: string;
}

/**
 * Whether a path may be one of the web UI's pages: not below another family's mount point (an unknown GET there
 * is a JSON 404, never the dashboard's index.html, so a client with a typo in its URL is told so), nor below
 * `/assets`, where only built files live.
 */
function isPagePath(pathname: string): boolean {
  return familyMountedAt(pathname) === WEB_FAMILY && pathname.split('/')[1] !== 'assets';
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/**
 * Serves the built web UI: the operator dashboard (a single-page app at `/`, every unknown non-API GET
 * path falls back to its index.html, behind dashboard HTTP Basic unless the server has no secret key) and the end users'
 * Connect UI at the path of NANGO_PUBLIC_CONNECT_URL (always also at `/connect`; never behind the dashboard
 * login). Hashed assets are cached for a year; HTML is revalidated on every load. No CDN: everything the
 * pages load comes from this server.
 */
export async function registerStaticWeb(app: FastifyInstance, options: StaticWebOptions): Promise<void> {
  const root = path.resolve(options.root ?? WEB_ROOT);
  const guard = dashboardGuard(options.config);
  const pages = new PageCache(root);
  const { paths: connectPaths, atRoot: connectAtRoot } = connectUiPaths(options.config);
  const serverOrigin = new URL(options.config.serverUrl).origin;
  const connectOrigin = new URL(options.config.publicConnectUrl).origin;
  const dashboardConfig = {
    serverUrl: options.config.serverUrl,
    connectUrl: options.config.publicConnectUrl,
    callbackUrl: options.config.callbackUrl,
    dashboardAuth: options.config.dashboard !== undefined,
    dashboardSignIn: dashboardSignIn(options.config),
  };
  const connectConfig = { serverUrl: options.config.serverUrl };

  const sendDashboard = async (request: FastifyRequest, reply: FastifyReply) => {
    await guard(request, reply);
    if (reply.sent) return reply;
    const html = await pages.get('index.html', dashboardConfig);
    return sendHtml(reply, html, {
      'content-security-policy': [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        `img-src 'self' data: ${serverOrigin}`,
        `connect-src 'self' ${wsOrigins(request)} ${serverOrigin} ${wsOf(serverOrigin)}`,
        `frame-src 'self' ${connectOrigin}`,
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
      ].join('; '),
      'x-frame-options': 'DENY',
      'referrer-policy': 'same-origin',
      'cache-control': 'no-cache',
    });
  };

  const sendConnect = async (_request: FastifyRequest, reply: FastifyReply) => {
    const html = await pages.get('connect/index.html', connectConfig);
    return sendHtml(reply, html, {
      // Operators embed it in an iframe on their own origin: no frame-ancestors limit. The API may live on another origin (?apiURL=).
      'content-security-policy': [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: http: https:",
        "connect-src 'self' http: https: ws: wss:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
      ].join('; '),
      // The address holds the session token: it must not leak to other sites.
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    });
  };

  await app.register(async (web) => {
    adoptFamily(web, WEB_FAMILY);

    for (const connectPath of connectPaths) {
      web.get(connectPath, READS_QUERY, sendConnect);
      web.get(`${connectPath}/`, READS_QUERY, sendConnect);
    }

    web.get('/', READS_QUERY, async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      if (connectAtRoot && (query['session_token'] !== undefined || query['apiURL'] !== undefined)) return sendConnect(request, reply);
      return sendDashboard(request, reply);
    });

    web.get('/*', READS_QUERY, async (request, reply) => {
      const notFound = () => new ApiError('not_found', `No route GET ${shortPath(request.url)}.`);
      const pathname = decodePath(request.url.split('?')[0] ?? '/');
      if (pathname === undefined) throw notFound();
      const file = await staticFile(root, pathname);
      if (file) return sendFile(reply, file);
      // Another family's path (`/connect/…` below the Connect UI is the connect-session API's) is answered as the
      // server answers unknown routes, with that family's CORS policy.
      if (familyMountedAt(pathname) !== WEB_FAMILY) return reply.callNotFound();
      // A missing file is a 404 too, never the page.
      if (!isPagePath(pathname) || /\.[a-z0-9]{1,12}$/i.test(pathname)) throw notFound();
      return sendDashboard(request, reply);
    });
  });
}

function connectUiPaths(config: StaticWebOptions['config']): { paths: string[]; atRoot: boolean } {
  const server = new URL(config.serverUrl);
  const connect = new URL(config.publicConnectUrl);
  let pathname = connect.pathname.replace(/\/+$/, '');
  // A server published under a path prefix (a proxy strips it): the routes here are below the prefix.
  const prefix = server.pathname.replace(/\/+$/, '');
  if (prefix && connect.origin === server.origin && pathname.startsWith(`${prefix}/`)) pathname = pathname.slice(prefix.length);
  const paths = new Set(['/connect']);
  if (pathname && isPagePath(pathname)) paths.add(pathname);
  return { paths: [...paths], atRoot: pathname === '' };
}

function decodePath(pathname: string): string | undefined {
  try {
    const decoded = decodeURIComponent(pathname);
    return decoded.includes('\0') ? undefined : decoded;
  } catch {
    return undefined;
  }
}

interface StaticFile {
  path: string;
  immutable: boolean;
}

/** A built file that may be served as it is: assets and top-level public files, never an HTML page or anything outside the root. */
async function staticFile(root: string, pathname: string): Promise<StaticFile | undefined> {
  const resolved = path.resolve(root, `.${path.posix.normalize(pathname)}`);
  if (!resolved.startsWith(`${root}${path.sep}`) || resolved.endsWith('.html')) return undefined;
  const extension = path.extname(resolved).toLowerCase();
  if (!CONTENT_TYPES[extension]) return undefined;
  const info = await stat(resolved).catch(() => undefined);
  if (!info?.isFile()) return undefined;
  return { path: resolved, immutable: path.relative(root, resolved).startsWith(`assets${path.sep}`) };
}

async function sendFile(reply: FastifyReply, file: StaticFile): Promise<FastifyReply> {
  const body = await readFile(file.path);
  return reply
    .header('content-type', CONTENT_TYPES[path.extname(file.path).toLowerCase()] ?? 'application/octet-stream')
    // Asset names carry a content hash: a new build gets new names, so a cached one never goes stale.
    .header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'public, max-age=3600')
    .header('x-content-type-options', 'nosniff')
    .send(body);
}

function sendHtml(reply: FastifyReply, html: { status: number; body: string }, headers: Record<string, string>): FastifyReply {
  return reply
    .status(html.status)
    .headers({ ...headers, 'content-type': 'text/html; charset=utf-8', 'x-content-type-options': 'nosniff' })
    .send(html.body);
}

function wsOrigins(request: FastifyRequest): string {
  const host = request.headers.host;
  return host && /^[\w.:[\]-]+$/.test(host) ? `ws://${host} wss://${host}` : '';
}

function wsOf(origin: string): string {
  return origin.replace(/^http/, 'ws');
}

/**
 * The two HTML pages, read from disk and re-read when a build replaces them, with the server's settings
 * injected as a `<meta>` tag (no inline script, so the pages run under a strict CSP).
 */
class PageCache {
  private readonly pages = new Map<string, { mtimeMs: number; body: string }>();

  constructor(private readonly root: string) {}

  async get(file: string, config: Record<string, unknown>): Promise<{ status: number; body: string }> {
    const full = path.join(this.root, file);
    const info = await stat(full).catch(() => undefined);
    if (!info) return { status: 503, body: notBuiltPage(this.root) };
    const key = `${file}\u0000${JSON.stringify(config)}`;
    const cached = this.pages.get(key);
    if (cached && cached.mtimeMs === info.mtimeMs) return { status: 200, body: cached.body };
    const template = await readFile(full, 'utf8');
    const meta = `<meta name="custody-config" content="${escapeAttribute(JSON.stringify(config))}">`;
    const body = template.includes('</head>') ? template.replace('</head>', `${meta}\n</head>`) : `${meta}${template}`;
    this.pages.set(key, { mtimeMs: info.mtimeMs, body });
    return { status: 200, body };
  }
}

function escapeAttribute(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] ?? char);
}

function notBuiltPage(root: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Web interface not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:0;display:grid;place-items:center;min-height:100vh;background:#f6f7f9;color:#1d2330}main{max-width:34rem;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.12)}code{background:#eef0f4;padding:.1rem .3rem;border-radius:4px}</style>
</head><body><main role="alert"><h1>The web interface is not built</h1>
<p>The server runs, but ${escapeAttribute(root)} holds no build of the dashboard and Connect UI. Run <code>npm run build:web</code> (<code>npm start</code> does it for you), then reload this page.</p></main></body></html>`;
}
