import net from 'node:net';

/**
 * A loopback TCP forwarder on a fixed port, for tests that take a server (PostgreSQL) away from a running
 * app and bring it back: `stop()` closes the port and cuts every open connection, `start()` opens it again.
 * `freeze()` makes it a server that stopped answering: every connection, open or new, stays open and silent.
 */
export interface TcpProxy {
  readonly port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  freeze(): void;
}

export async function createTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  let frozen = false;
  const pairs = new Set<[net.Socket, net.Socket]>();

  const start = async (): Promise<void> => {
    if (server) return;
    const listening = net.createServer((client) => {
      if (frozen) {
        // Accepted, never answered (like a host whose database process hangs).
        sockets.add(client);
        client.on('close', () => sockets.delete(client));
        client.on('error', () => client.destroy());
        return;
      }
      const upstream = net.connect(target.port, target.host);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
      const pair: [net.Socket, net.Socket] = [client, upstream];
      pairs.add(pair);
      client.once('close', () => pairs.delete(pair));
    });
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(port, '127.0.0.1', () => resolve());
    });
    const address = listening.address();
    port = typeof address === 'object' && address ? address.port : port;
    server = listening;
  };

  const stop = async (): Promise<void> => {
    const closing = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()));
  };

  const freeze = (): void => {
    frozen = true;
    for (const [client, upstream] of pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  };

  await start();
  return {
    get port() {
      return port;
    },
    start,
    stop,
    freeze,
  };
}
