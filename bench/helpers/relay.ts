import http from 'node:http';
import { serveHelper } from '../support/serve-helper.js';

/**
 * The proxy's own floor: the least any relay in Node.js adds on this machine. A bare node:http server that
 * sends every request on to the upstream over a kept-alive socket and streams the answer back: no
 * authentication, no lookup, no credentials, no audit. What the proxy adds beyond this is the proxy's own work;
 * what this adds beyond the upstream called directly is the extra hop itself.
 */
const upstream = new URL(process.env['RELAY_UPSTREAM'] ?? '');
if (upstream.protocol !== 'http:') throw new Error('RELAY_UPSTREAM must be the upstream helper\'s http:// origin.');

const agent = new http.Agent({ keepAlive: true });

const server = http.createServer((request, response) => {
  const outgoing = http.request(
    { host: upstream.hostname, port: upstream.port, method: request.method, path: (request.url ?? '/').replace(/^\/relay/, '/api'), agent, headers: { accept: 'application/json' } },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    },
  );
  outgoing.on('error', () => {
    if (!response.headersSent) response.writeHead(502);
    response.end();
  });
  request.pipe(outgoing);
});
serveHelper(server);
