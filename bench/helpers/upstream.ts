import http from 'node:http';
import { serveHelper } from '../support/serve-helper.js';

/**
 * A provider's API played by a local server: a small JSON answer, at once. Measured directly it is the
 * floor the proxy is compared with; the proxy's integration points its base URL here.
 */
const body = JSON.stringify({ data: [{ id: 1, name: 'Ada' }, { id: 2, name: 'Grace' }], next_cursor: null });

const server = http.createServer((request, response) => {
  // Read (and drop) any request body before answering, as a real API would.
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  });
});
serveHelper(server);
