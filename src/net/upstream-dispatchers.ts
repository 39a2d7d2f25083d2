import type { LookupFunction } from 'node:net';
import { Agent, type Dispatcher } from 'undici';
import type { ClientTlsOptions } from './client-tls.js';

/** Certificates whose sockets are kept at once; the least recently used one's sockets close beyond that. */
const KEPT_CERTIFICATES = 64;

/**
 * The undici dispatchers the proxy sends with, each pooling kept-alive sockets per origin: one for hosts a
 * template fixes, one whose sockets resolve their host through the outbound host guard's checked lookup (hosts
 * a connection chose; a kept-alive socket was checked when it connected), and one of each per client
 * certificate, so a socket that presented a certificate only ever carries calls that present the same one.
 * undici rather than node:http's client: the same exchange costs the proxy's single thread markedly less.
 */
export class UpstreamDispatchers {
  private readonly fixed: Agent;
  private readonly guarded: Agent;
  private readonly withCertificate = new Map<string, Agent>();

  constructor(private readonly guardedLookup: LookupFunction) {
    this.fixed = newAgent({});
    this.guarded = newAgent({ lookup: guardedLookup });
  }

  /** The dispatcher of a call to a host a connection chose (`guarded`) or a template fixed, presenting `tls` if given. */
  for(guarded: boolean, tls: ClientTlsOptions | undefined): Dispatcher {
    if (!tls) return guarded ? this.guarded : this.fixed;
    const key = `${guarded ? 'guarded' : 'fixed'}\n${tls.cert}\n${tls.key}\n${tls.ca?.length ?? 0}`;
    let agent = this.withCertificate.get(key);
    if (agent) {
      // Most recently used last: Map keeps insertion order.
      this.withCertificate.delete(key);
    } else {
      agent = newAgent({ cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca } : {}), ...(guarded ? { lookup: this.guardedLookup } : {}) });
      const oldest = this.withCertificate.size >= KEPT_CERTIFICATES ? this.withCertificate.entries().next().value : undefined;
      if (oldest) {
        this.withCertificate.delete(oldest[0]);
        void oldest[1].close();
      }
    }
    this.withCertificate.set(key, agent);
    return agent;
  }

  async close(): Promise<void> {
    const agents = [this.fixed, this.guarded, ...this.withCertificate.values()];
    this.withCertificate.clear();
    await Promise.all(agents.map((agent) => agent.destroy()));
  }
}

function newAgent(connect: { lookup?: LookupFunction; cert?: string; key?: string; ca?: string[] }): Agent {
  // The proxy's own deadline and idle limit govern every exchange (ExchangeAbort): undici's are turned off.
  return new Agent({ headersTimeout: 0, bodyTimeout: 0, connect });
}
