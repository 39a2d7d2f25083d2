import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP addresses and CIDR ranges, IPv4 and IPv6 alike: every address is held as 16 bytes, an IPv4 address as its
 * IPv4-mapped IPv6 form (::ffff:a.b.c.d), so `::ffff:127.0.0.1` is the loopback address it stands for.
 */
export interface IpRange {
  bytes: Uint8Array;
  /** Leading bits that must match, out of 128. */
  prefix: number;
}

/** What kind of non-public address an address is; undefined for a public (globally routed) one. */
export type NonPublicKind = 'unspecified' | 'loopback' | 'private' | 'shared (carrier-grade NAT)' | 'link-local' | 'multicast' | 'reserved';

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** The 16 bytes of an IPv4 or IPv6 address (an IPv6 zone such as `%eth0` is ignored); undefined when it is neither. */
export function parseIp(text: string): Uint8Array | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (isIPv4(bare)) return Uint8Array.from([...V4_MAPPED_PREFIX, ...bare.split('.').map(Number)]);
  const withoutZone = bare.split('%')[0] ?? '';
  if (!isIPv6(withoutZone)) return undefined;
  return parseIPv6(withoutZone.toLowerCase());
}

function parseIPv6(text: string): Uint8Array {
  // A dotted IPv4 address may end an IPv6 one (::ffff:127.0.0.1): it is the last two groups.
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  let hex = text;
  if (last.includes('.')) {
    const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
    hex = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const groupsOf = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const [left = '', right] = hex.split('::');
  const leftGroups = groupsOf(left);
  const rightGroups = groupsOf(right ?? '');
  const zeros = new Array<number>(Math.max(0, 8 - leftGroups.length - rightGroups.length)).fill(0);
  const groups = right === undefined ? leftGroups : [...leftGroups, ...zeros, ...rightGroups];
  const bytes = new Uint8Array(16);
  groups.slice(0, 8).forEach((group, index) => {
    bytes[index * 2] = group >> 8;
    bytes[index * 2 + 1] = group & 0xff;
  });
  return bytes;
}

/** `10.0.0.0/8`, `fd00::/8`, or a single address (a /32 or /128 range); undefined when the text is neither. */
export function parseCidr(text: string): IpRange | undefined {
  const slash = text.indexOf('/');
  const bytes = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (!bytes) return undefined;
  const v4 = isIPv4(slash === -1 ? text : text.slice(0, slash));
  const width = v4 ? 32 : 128;
  const bits = slash === -1 ? width : text.slice(slash + 1);
  if (typeof bits === 'string' && !/^\d{1,3}$/.test(bits)) return undefined;
  const length = Number(bits);
  if (length > width) return undefined;
  return { bytes, prefix: v4 ? length + 96 : length };
}

export function inRange(address: Uint8Array, range: IpRange): boolean {
  for (let bit = 0; bit < range.prefix; bit += 8) {
    const remaining = range.prefix - bit;
    const mask = remaining >= 8 ? 0xff : (0xff << (8 - remaining)) & 0xff;
    if (((address[bit / 8] ?? 0) & mask) !== ((range.bytes[bit / 8] ?? 0) & mask)) return false;
  }
  return true;
}

function ranges(kind: NonPublicKind, cidrs: string[]): [NonPublicKind, IpRange][] {
  return cidrs.map((cidr) => [kind, parseCidr(cidr) as IpRange]);
}

/** Every range that is not the public internet (IANA special-purpose registries), IPv4 ranges in both notations. */
const NON_PUBLIC: [NonPublicKind, IpRange][] = [
  ...ranges('unspecified', ['0.0.0.0/8', '::/128']),
  ...ranges('loopback', ['127.0.0.0/8', '::1/128']),
  ...ranges('private', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7', 'fec0::/10', '64:ff9b:1::/48']),
  ...ranges('shared (carrier-grade NAT)', ['100.64.0.0/10']),
  ...ranges('link-local', ['169.254.0.0/16', 'fe80::/10']),
  ...ranges('multicast', ['224.0.0.0/4', 'ff00::/8']),
  ...ranges('reserved', [
    '192.0.0.0/24', '192.0.2.0/24', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '192.88.99.0/24', '240.0.0.0/4',
    // IPv4-compatible IPv6 (deprecated), discard-only, Teredo, documentation, ORCHID.
    '::/96', '100::/64', '2001::/32', '2001:db8::/32', '2001:10::/28', '2001:20::/28',
  ]),
];

/** IPv6 forms that carry an IPv4 address inside (NAT64, 6to4): they are what the IPv4 address is. */
const NAT64 = parseCidr('64:ff9b::/96') as IpRange;
const SIX_TO_FOUR = parseCidr('2002::/16') as IpRange;
const V4_MAPPED = parseCidr('::ffff:0:0/96') as IpRange;
const GLOBAL_UNICAST_V6 = parseCidr('2000::/3') as IpRange;

/** The kind of non-public address this is, or undefined for a public one (and for text that is no address). */
export function nonPublicKind(address: string | Uint8Array): NonPublicKind | undefined {
  const bytes = typeof address === 'string' ? parseIp(address) : address;
  if (!bytes) return undefined;
  if (inRange(bytes, NAT64)) return nonPublicKind(embeddedV4(bytes.slice(12, 16)));
  if (inRange(bytes, SIX_TO_FOUR)) return nonPublicKind(embeddedV4(bytes.slice(2, 6)));
  const kind = NON_PUBLIC.find(([, range]) => inRange(bytes, range))?.[0];
  if (kind) return kind;
  // Outside 2000::/3 no IPv6 address is assigned for global unicast.
  return inRange(bytes, V4_MAPPED) || inRange(bytes, GLOBAL_UNICAST_V6) ? undefined : 'reserved';
}

function embeddedV4(four: Uint8Array): Uint8Array {
  return Uint8Array.from([...V4_MAPPED_PREFIX, ...four]);
}
