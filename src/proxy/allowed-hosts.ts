/**
 * The hosts a caller may send proxied requests to with `Base-Url-Override` (which carries the connection's
 * credentials there). Entries are `host`, `host:port` or `*.domain` (any subdomain, not the domain itself);
 * without a port every port matches. An empty list refuses every override: the proxy is never an open relay.
 */
export interface HostPattern {
  hostname: string;
  wildcard: boolean;
  port: string | undefined;
}

const HOSTNAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const IPV6 = /^\[[0-9a-f:.]+\]$/;

/**
 * Reads `NANGO_PROXY_BASE_URL_OVERRIDE_ALLOWED_HOSTS` (comma- or space-separated); throws an Error naming the
 * first bad entry.
 */
export function parseAllowedHosts(raw: string | undefined): string[] {
  const entries = (raw ?? '')
    .split(/[\s,]+/)
    .map((entry) => entry.trim().toLowerCase())
    .filter((entry) => entry !== '');
  for (const entry of entries) {
    if (!parseHostPattern(entry)) {
      throw new Error(`"${entry}" is not a host name, "host:port" or "*.domain" (no scheme, no path).`);
    }
  }
  return entries;
}

export function parseHostPattern(entry: string): HostPattern | undefined {
  const text = entry.trim().toLowerCase();
  let hostname: string;
  let port: string | undefined;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end === -1) return undefined;
    hostname = text.slice(0, end + 1);
    const rest = text.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    port = rest === '' ? undefined : rest.slice(1);
    if (!IPV6.test(hostname)) return undefined;
  } else {
    const colon = text.lastIndexOf(':');
    hostname = colon === -1 ? text : text.slice(0, colon);
    port = colon === -1 ? undefined : text.slice(colon + 1);
    if (port !== undefined && !/^\d{1,5}$/.test(port)) return undefined;
  }
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return undefined;
  const wildcard = hostname.startsWith('*.');
  const bare = wildcard ? hostname.slice(2) : hostname;
  if (!IPV6.test(bare) && !HOSTNAME.test(bare)) return undefined;
  return { hostname: bare, wildcard, port };
}

export function isAllowedHost(url: URL, allowed: readonly string[]): boolean {
  const hostname = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return allowed.some((entry) => {
    const pattern = parseHostPattern(entry);
    if (!pattern) return false;
    if (pattern.port !== undefined && pattern.port !== port) return false;
    return pattern.wildcard ? hostname.endsWith(`.${pattern.hostname}`) : hostname === pattern.hostname;
  });
}
