import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * A loopback port that was free a moment ago, for a listener that binds it later (the embedded database;
 * tests' servers whose URL must be known first). It is drawn below the kernel's ephemeral range when the
 * kernel says where that is: the ports of outgoing connections come from that range, so a busy process's
 * own client sockets cannot take the port between this check and the bind, as a port 0 answer could.
 */
export async function freeLoopbackPort(): Promise<number> {
  const range = portsBelowEphemeralRange();
  if (range) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = range.first + Math.floor(Math.random() * (range.last - range.first + 1));
      if (await canListen(port)) return port;
    }
  }
  return listenAndRelease(0);
}

/** The lower half of the ports under the ephemeral range (Linux), kept clear of the well-known ones. */
export function portsBelowEphemeralRange(rangeFile = '/proc/sys/net/ipv4/ip_local_port_range'): { first: number; last: number } | undefined {
  let text: string;
  try {
    text = readFileSync(rangeFile, 'utf8');
  } catch {
    return undefined;
  }
  const low = Number(text.trim().split(/\s+/)[0]);
  if (!Number.isInteger(low) || low <= 10_000) return undefined;
  return { first: Math.max(10_000, Math.floor(low / 2)), last: low - 1 };
}

async function canListen(port: number): Promise<boolean> {
  try {
    await listenAndRelease(port);
    return true;
  } catch {
    return false;
  }
}

function listenAndRelease(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(bound));
    });
  });
}
