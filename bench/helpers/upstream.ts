import http from 'node:http';

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
// Longer than the proxy's agent keeps idle sockets, so the upstream never closes one the proxy is about to reuse.
server.keepAliveTimeout = 30_000;

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`LISTENING ${typeof address === 'object' && address ? address.port : 0}\n`);
});

process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
