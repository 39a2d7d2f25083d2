import net from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * The attacker's host: a TCP listener on a loopback address that counts every connection it accepts and every
 * byte it receives. It answers like a token endpoint would (HTTP 200 with a token), so a request that did reach
 * it would make the attack look successful. A spec asserts it got nothing at all.
 */
export interface TrapListener {
  /** `127.0.0.1:<port>`, as an attacker would type it into params[host]. */
  hostPort: string;
  port: number;
  accepted: number;
  bytes: number;
  close(): Promise<void>;
}

export async function startTrapListener(options: { host?: string; port?: number } = {}): Promise<TrapListener> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    trap.accepted += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      trap.bytes += chunk.length;
      const body = '{"access_token":"stolen","refresh_token":"stolen","expires_in":3600}';
      socket.end(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const trap: TrapListener = {
    hostPort: `${host}:${port}`,
    port,
    accepted: 0,
    bytes: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  return trap;
}
