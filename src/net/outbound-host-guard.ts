import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { ApiError } from '../errors.js';
import type { Logger } from '../logger.js';
import { allowsAddress, allowsName, type ConnectionHostsAllowed } from './connection-hosts-allowed.js';
import { nonPublicKind } from './ip-ranges.js';

/**
 * Keeps the server from calling a non-public address (loopback, private, link-local, multicast, unspecified…)
 * chosen by whoever filled in a connection, unless the operator allows it (NANGO_CONNECTION_HOSTS_ALLOWED).
 *
 * Two checks, one rule: `check` resolves a URL's host when a connection is made, so a refused host is named at
 * once; `agentFor` gives the HTTP agent every call to such a host goes through, whose sockets check the
 * addresses in their own DNS lookup. The address checked is therefore the address connected to, and a name
 * that resolves elsewhere between the two (DNS rebinding) is caught at the call. Nothing is sent to a refused
 * address: the check happens before the socket connects.
 */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Every address a host name resolves to; the seam where a test decides what a name resolves to. */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

/** The operating system's resolver (getaddrinfo: /etc/hosts, then DNS), as Node's own connections use it. */
export const systemResolver: HostResolver = async (hostname) =>
  (await dns.promises.lookup(hostname, { all: true, verbatim: true })).map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));

export const ALLOWED_HOSTS_SETTING = 'NANGO_CONNECTION_HOSTS_ALLOWED';

/** The server refused to send anything to a host (4xx for whoever asked, with the rule and the setting). */
export class HostRefusedError extends ApiError {
  override name = 'HostRefusedError';
}

export class OutboundHostGuard {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(
    private readonly allowed: ConnectionHostsAllowed,
    private readonly resolve: HostResolver = systemResolver,
    private readonly log?: Logger,
  ) {
    // Kept-alive sockets were all checked when they connected, so reusing one sends to a checked address.
    this.httpAgent = new http.Agent({ keepAlive: true, lookup: this.lookup });
    this.httpsAgent = new https.Agent({ keepAlive: true, lookup: this.lookup });
  }

  /**
   * When a connection is made: throws HostRefusedError for a refused host. A name that does not resolve now is
   * not refused: nothing can reach it, and the lookup of every later call decides.
   */
  async check(url: URL): Promise<void> {
    const host = hostnameOf(url);
    if (isIP(host)) return this.checkAddress(host, host);
    await this.resolveChecked(host).catch((error: unknown) => {
      if (error instanceof HostRefusedError) throw error;
    });
  }

  /** For every call: the agent to send with. An address in the URL is checked here (no lookup happens for one). */
  agentFor(url: URL): http.Agent {
    this.checkLiteral(url);
    return url.protocol === 'https:' ? this.httpsAgent : this.httpAgent;
  }

  /**
   * For every call that connects through `lookup` rather than an agent of this guard's: a URL whose host is an
   * address is checked here, since no lookup happens for one.
   */
  checkLiteral(url: URL): void {
    const host = hostnameOf(url);
    if (isIP(host)) this.checkAddress(host, host);
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /**
   * net's `lookup` option: resolves, refuses the whole name if any address is refused, then answers as dns.lookup
   * would. Every socket to a host a connection chose connects through it (this guard's agents, the proxy's dispatcher).
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.resolveChecked(hostname).then(
      (addresses) => {
        const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
        const usable = family ? addresses.filter((entry) => entry.family === family) : addresses;
        const first = usable[0];
        if (!first) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }), '');
        if (options.all) return callback(null, usable);
        return callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };

  private async resolveChecked(hostname: string): Promise<ResolvedAddress[]> {
    const addresses = await this.resolve(hostname);
    // A name the operator listed is trusted whatever it resolves to.
    if (!allowsName(this.allowed, hostname)) for (const { address } of addresses) this.checkAddress(address, hostname);
    return addresses;
  }

  private checkAddress(address: string, host: string): void {
    const kind = nonPublicKind(address);
    if (!kind || allowsAddress(this.allowed, address)) return;
    const literal = address === host;
    const described = `${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind} address`;
    this.log?.warn(`Refused to connect to "${host}"${literal ? '' : ` (${address})`}, ${described}, for a connection. If this host is yours, add it to ${ALLOWED_HOSTS_SETTING}.`);
    throw new HostRefusedError(
      'connection_host_not_allowed',
      `The host "${host}" is not allowed: it ${literal ? 'is' : 'resolves to'} ${described}, and this server sends nothing to loopback, private, link-local, multicast or other non-public addresses unless its operator lists the host in ${ALLOWED_HOSTS_SETTING}.`,
    );
  }
}

/** The URL's host name as a resolver or an address parser takes it: no IPv6 brackets. */
export function hostnameOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}
