import { inRange, parseCidr, parseIp, type IpRange } from './ip-ranges.js';

/**
 * `NANGO_CONNECTION_HOSTS_ALLOWED`: the non-public destinations an operator lets connections use. Entries are
 * exact host names (`gitlab.internal`), suffixes (`.corp.example.com` or `*.corp.example.com`: any name under
 * it), and addresses or CIDR ranges (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`). A name listed by name is trusted
 * whatever it resolves to; any other name is allowed when every address it resolves to is public or in a
 * listed range.
 */
export interface ConnectionHostsAllowed {
  names: string[];
  suffixes: string[];
  ranges: IpRange[];
  /** The entries as written, for logs and errors. */
  entries: string[];
}

export const NO_CONNECTION_HOSTS_ALLOWED: ConnectionHostsAllowed = { names: [], suffixes: [], ranges: [], entries: [] };

const LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
const HOST_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);

/** Throws an Error naming the first entry that is none of the three kinds. */
export function parseConnectionHostsAllowed(raw: string | undefined): ConnectionHostsAllowed {
  const allowed: ConnectionHostsAllowed = { names: [], suffixes: [], ranges: [], entries: [] };
  for (const entry of (raw ?? '').split(/[\s,]+/).map((item) => item.trim().toLowerCase()).filter(Boolean)) {
    const range = parseCidr(entry);
    const suffix = entry.startsWith('*.') ? entry.slice(1) : entry.startsWith('.') ? entry : undefined;
    if (range) allowed.ranges.push(range);
    else if (suffix !== undefined && HOST_NAME.test(suffix.slice(1))) allowed.suffixes.push(suffix);
    else if (suffix === undefined && HOST_NAME.test(entry) && !/^[\d.]+$/.test(entry)) allowed.names.push(entry);
    else throw new Error(`"${entry}" is not a host name, a ".suffix" or an address or CIDR range (for example gitlab.internal, .corp.example.com, 10.0.0.0/8).`);
    allowed.entries.push(entry);
  }
  return allowed;
}

/** A host name the operator listed by name or under a listed suffix (trailing dot and case ignored). */
export function allowsName(allowed: ConnectionHostsAllowed, hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return allowed.names.includes(name) || allowed.suffixes.some((suffix) => name.endsWith(suffix));
}

export function allowsAddress(allowed: ConnectionHostsAllowed, address: string | Uint8Array): boolean {
  const bytes = typeof address === 'string' ? parseIp(address) : address;
  return bytes !== undefined && allowed.ranges.some((range) => inRange(bytes, range));
}
