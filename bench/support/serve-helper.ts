import type http from 'node:http';

/**
 * How a node:http helper process (`bench/helpers/`) serves: on a free loopback port it announces with
 * `LISTENING <port>` (what startHelper waits for), and stopped by SIGTERM with its kept-alive sockets closed.
 */
export function serveHelper(server: http.Server): void {
  // Longer than any client keeps idle sockets, so the helper never closes one a client is about to reuse.
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`LISTENING ${typeof address === 'object' && address ? address.port : 0}\n`);
  });
  process.once('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
