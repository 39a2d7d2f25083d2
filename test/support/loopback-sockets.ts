import { readFileSync } from 'node:fs';

/**
 * Established TCP connections whose local end is `address:port` on this machine (/proc/net/tcp), such as the
 * connections nginx holds open to one server process: a popup's WebSocket is the one that lasts.
 */
export function establishedTo(address: string, port: number): number {
  const local = `${hexAddress(address)}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[1] === local && fields[3] === '01').length;
}

/** /proc/net/tcp writes an IPv4 address as one little-endian 32-bit hex number. */
function hexAddress(address: string): string {
  return address
    .split('.')
    .reverse()
    .map((part) => Number(part).toString(16).toUpperCase().padStart(2, '0'))
    .join('');
}
