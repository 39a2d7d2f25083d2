import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import type { Browser } from './browser.js';

/**
 * An operator's web page on its own origin, loading the real Nango frontend SDKs straight from
 * node_modules (they are plain ES modules): /sdk/016/ is @nangohq/frontend 0.16.1, /sdk/071/ is 0.71.10.
 * The page body is whatever HTML the test gives.
 */
export interface SdkPageServer {
  origin: string;
  setPage(html: string): void;
  close(): Promise<void>;
}

const SDK_DIRS: Record<string, string> = {
  '016': path.join(PACKAGE_ROOT, 'node_modules/nango-frontend-016/dist'),
  '071': path.join(PACKAGE_ROOT, 'node_modules/@nangohq/frontend/dist'),
};

export async function startSdkPageServer(): Promise<SdkPageServer> {
  let page = '<!doctype html><title>empty</title>';
  const server = http.createServer((req, res) => {
    void (async () => {
      const sdk = /^\/sdk\/(016|071)\/([\w.-]+\.js)$/.exec(req.url ?? '');
      if (sdk) {
        try {
          const body = await readFile(path.join(SDK_DIRS[sdk[1] ?? ''] ?? '', sdk[2] ?? ''));
          res.writeHead(200, { 'content-type': 'text/javascript' }).end(body);
        } catch {
          res.writeHead(404).end();
        }
        return;
      }
      if (req.url === '/favicon.ico') return void res.writeHead(204).end();
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    setPage: (html) => {
      page = html;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** How an SDK call on a page settled: `resolved` with its value, or `rejected` with the error's message and type. */
export interface SdkOutcome {
  outcome: string;
  value: unknown;
}

/**
 * Serves a page that loads @nangohq/frontend (`sdk`), builds `new Nango(options)` and runs `call` (a JS expression
 * using `nango`) when its button is clicked; clicks it in `browser`, waits until the call settles and returns how.
 * The page must not throw on the way.
 */
export async function runSdkCallInPage(pages: SdkPageServer, browser: Browser, sdk: '016' | '071', options: Record<string, unknown>, call: string): Promise<SdkOutcome> {
  pages.setPage(`<!doctype html><html><body>
<button id="connect">Connect</button><pre id="out">waiting</pre>
<script type="module">
import * as sdk from '/sdk/${sdk}/index.js';
const Nango = sdk.default ?? sdk.Nango;
const nango = new Nango(${JSON.stringify(options)});
document.getElementById('connect').addEventListener('click', () => {
  ${call}
    .then((value) => { document.getElementById('out').textContent = JSON.stringify({ outcome: 'resolved', value }); })
    .catch((error) => { document.getElementById('out').textContent = JSON.stringify({ outcome: 'rejected', value: { message: error.message, type: error.type } }); });
});
</script></body></html>`);
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(pages.origin);
  await page.click('#connect');
  await page.waitForFunction(() => document.getElementById('out')?.textContent !== 'waiting', undefined, { timeout: 20_000 });
  const result = JSON.parse((await page.textContent('#out')) ?? '{}') as SdkOutcome;
  await page.close();
  expect(errors).toEqual([]);
  return result;
}
