import type { HostResolver, ResolvedAddress } from '../../src/net/outbound-host-guard.js';

/**
 * What host names resolve to in a spec, without touching real DNS: `localhost` resolves to loopback, a spec
 * adds the names it needs and may change what one resolves to between two calls (DNS rebinding). Any other
 * name fails as an unknown name would, so no spec can resolve a real provider's host by accident.
 */
export class TestResolver {
  private readonly names = new Map<string, string[]>([['localhost', ['127.0.0.1', '::1']]]);
  /** Every name asked for, in order. */
  readonly asked: string[] = [];

  set(name: string, addresses: string[]): this {
    this.names.set(name.toLowerCase(), addresses);
    return this;
  }

  readonly resolve: HostResolver = async (hostname) => {
    const name = hostname.toLowerCase().replace(/\.$/, '');
    this.asked.push(name);
    const addresses = this.names.get(name);
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname} (specs resolve only the names they set)`), { code: 'ENOTFOUND', hostname });
    return addresses.map((address): ResolvedAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}
