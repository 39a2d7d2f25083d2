import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { ApiError } from '../errors.js';
import { dashboardGuard } from '../plugins/dashboard-auth.js';
import { VERSION } from '../version.js';

/** Swagger UI's files, from the swagger-ui-dist package: served by this server, never from a CDN. */
const SWAGGER_UI = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const ASSETS: Record<string, { file: string; type: string }> = {
  'swagger-ui.css': { file: 'swagger-ui.css', type: 'text/css; charset=utf-8' },
  'swagger-ui-bundle.js': { file: 'swagger-ui-bundle.js', type: 'text/javascript; charset=utf-8' },
};

/** Starts Swagger UI on the document; no inline script, so the page's CSP allows scripts from this server only. */
const INIT_SCRIPT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  // null: no badge fetched from the public validator; the page talks to this server only.
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Custody API reference</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

/**
 * `GET /openapi.json` (the API described from the routes' zod schemas) and `/docs` (Swagger UI on it). They hold
 * no secret, but they follow the dashboard's rule: behind its sign-in whenever the dashboard is (see docs/security.md).
 */
export function registerApiDocsRoutes(app: FastifyInstance, config: Pick<Config, 'serverUrl' | 'dashboard' | 'secretKey'>): void {
  const guard = dashboardGuard(config);
  let document: string | undefined;
  const onRequest = async (request: Parameters<typeof guard>[0], reply: Parameters<typeof guard>[1]) => {
    await guard(request, reply);
  };

  app.get('/openapi.json', { onRequest }, async (_request, reply) => {
    // The document's schemas are loaded by the first request for it, not by every start.
    document ??= JSON.stringify((await import('../openapi/openapi-document.js')).buildOpenApiDocument({ serverUrl: config.serverUrl, version: VERSION }));
    return reply.header('content-type', 'application/json; charset=utf-8').header('cache-control', 'no-cache').send(document);
  });

  app.get('/docs', { onRequest }, async (_request, reply) => {
    return reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('content-security-policy', [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        `connect-src 'self' ${new URL(config.serverUrl).origin}`,
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
      ].join('; '))
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'same-origin')
      .send(PAGE);
  });

  app.get('/docs/:file', async (request, reply) => {
    const { file } = request.params as { file: string };
    if (file === 'init.js') return reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(INIT_SCRIPT);
    const asset = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined;
    if (!asset) throw new ApiError('not_found', `No file "${file}" in the API reference.`);
    const body = await readFile(path.join(SWAGGER_UI, asset.file));
    return reply.header('content-type', asset.type).header('cache-control', 'public, max-age=3600').send(body);
  });
}
