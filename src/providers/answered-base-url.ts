import { isAllowedHost, parseHostPattern } from '../proxy/allowed-hosts.js';

/**
 * A base URL the provider names in its answer (SAP Concur's `geolocation` in the token answer, Bullhorn's
 * `restUrl` in its REST login's answer): the provider's word, not the end user's, but it decides where tokens
 * go, so the template lists the hosts it may name (`api_base_url.hosts`). An entry is `host`, `host:port` or
 * `*.domain` (any name under it), https only; an entry written with `http://` allows plain HTTP to that host
 * (a local stand-in). A name matched by a `*.` entry is reached through the outbound host guard, as a host a
 * connection chose is: it must resolve to a public address. A host named exactly is the operator's choice, as a
 * host written in a template URL is.
 */
export interface AnsweredHost {
  /** `host`, `host:port` or `*.domain`, lower-case. */
  pattern: string;
  scheme: 'https:' | 'http:';
}

/** The placeholder that stands for the answered base URL in the template's other URLs. */
export const ANSWERED_BASE_URL_PLACEHOLDER = 'apiBaseUrl';

/** An entry of `api_base_url.hosts`, or undefined when it is none of the forms above. */
export function parseAnsweredHost(entry: string): AnsweredHost | undefined {
  const match = /^(?:(https?):\/\/)?([^/?#]+)$/i.exec(entry.trim());
  if (!match) return undefined;
  const pattern = (match[2] ?? '').toLowerCase();
  if (!parseHostPattern(pattern)) return undefined;
  return { pattern, scheme: match[1]?.toLowerCase() === 'http' ? 'http:' : 'https:' };
}

export type AnsweredUrlCheck = { ok: true; url: URL; byWildcard: boolean } | { ok: false; problem: string };

/** Whether `text` is a base URL the template allows: an absolute URL without credentials, query or fragment, on a listed host and scheme. */
export function checkAnsweredUrl(text: string, hosts: readonly string[]): AnsweredUrlCheck {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, problem: 'it is not an absolute URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, problem: `its scheme ${url.protocol} is not https:` };
  if (url.username || url.password || url.search || url.hash) return { ok: false, problem: 'it carries credentials, a query or a fragment' };
  const onHost = hosts.map(parseAnsweredHost).filter((candidate): candidate is AnsweredHost => candidate !== undefined && isAllowedHost(url, [candidate.pattern]));
  const entry = onHost.find((candidate) => candidate.scheme === url.protocol);
  if (!entry) {
    const problem = onHost.length > 0 ? `it is not ${onHost[0]?.scheme.slice(0, -1)}` : `its host ${url.host} is not one the provider template allows (${hosts.join(', ')})`;
    return { ok: false, problem };
  }
  return { ok: true, url, byWildcard: entry.pattern.startsWith('*.') };
}
