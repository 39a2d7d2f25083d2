import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import type { Config } from '../config.js';

/** The WebSocket close code for a refused socket (RFC 6455 §7.4.1: policy violation). */
export const POLICY_VIOLATION = 1008;

/**
 * Who may hold the popup's WebSocket. Browsers send `Origin` with every handshake: once NANGO_ALLOWED_ORIGINS
 * lists the operator's app origins, a page of any other origin is refused before the upgrade (this server's own
 * origin, the Connect UI's and the host the handshake came to always pass). Unset, every origin is accepted, as
 * the frontend SDK runs on the operator's own pages, whose origin this server cannot guess. A handshake without
 * `Origin` comes from no browser and is not judged by it. Each client address may hold at most `perAddress`
 * sockets at once.
 */
export class SocketAdmission {
  private readonly origins: Set<string> | undefined;
  private readonly perAddress: number;
  private readonly open = new Map<string, number>();
  /** Addresses refused since they last dropped below the limit: the operator is told once, not once per socket. */
  private readonly refused = new Set<string>();
  readonly clientAddress: (request: IncomingMessage) => string;

  constructor(config: Pick<Config, 'serverUrl' | 'publicConnectUrl' | 'browsers' | 'trustProxy'>) {
    const listed = config.browsers.allowedOrigins;
    this.origins = listed ? new Set([new URL(config.serverUrl).origin, new URL(config.publicConnectUrl).origin, ...listed]) : undefined;
    this.perAddress = config.browsers.webSocketsPerAddress;
    const trust = trustFunction(config.trustProxy);
    this.clientAddress = (request) => proxyAddr(request, trust);
  }

  /** Why the handshake is refused, or undefined when its origin may connect. */
  originRefusal(request: IncomingMessage): string | undefined {
    const origin = request.headers.origin;
    if (!this.origins || origin === undefined || this.origins.has(origin) || isSameHost(origin, request.headers.host)) return undefined;
    return `WebSockets from the origin ${origin.slice(0, 100)} are refused: add it to NANGO_ALLOWED_ORIGINS to allow pages of that origin to connect.`;
  }

  /**
   * Counts a socket for its address: 'admitted', or, when the address already holds the limit (nothing is
   * counted then), 'refused' and the first time in a row 'first_refusal'.
   */
  take(address: string): 'admitted' | 'refused' | 'first_refusal' {
    const held = this.open.get(address) ?? 0;
    if (this.perAddress > 0 && held >= this.perAddress) {
      if (this.refused.has(address)) return 'refused';
      this.refused.add(address);
      return 'first_refusal';
    }
    this.open.set(address, held + 1);
    return 'admitted';
  }

  release(address: string): void {
    const held = (this.open.get(address) ?? 1) - 1;
    this.refused.delete(address);
    if (held <= 0) this.open.delete(address);
    else this.open.set(address, held);
  }

  /** The close reason a socket over the limit gets (at most 123 bytes, as a close frame allows). */
  get limitReason(): string {
    return `Too many WebSockets from this address (limit ${this.perAddress}, NANGO_WEBSOCKETS_PER_ADDRESS).`;
  }

  get limit(): number {
    return this.perAddress;
  }
}

/** A page served by this server under the address the browser used for it (NANGO_SERVER_URL may name another). */
function isSameHost(origin: string, host: string | undefined): boolean {
  return host !== undefined && URL.canParse(origin) && new URL(origin).host === host.toLowerCase();
}

/** The check Fastify makes for NANGO_TRUST_PROXY, so a socket's client address is the one its requests have. */
function trustFunction(setting: Config['trustProxy']): (address: string, hop: number) => boolean {
  if (setting === true) return () => true;
  if (setting === false) return () => false;
  if (typeof setting === 'number') return (_address, hop) => hop < setting;
  return proxyAddr.compile(setting);
}
