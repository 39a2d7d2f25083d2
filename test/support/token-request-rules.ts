/**
 * What RFC 6749 requires of a token request, for the token endpoints the specs stand up: a form-encoded body
 * (§3.2, §4.1.3, §6) and client authentication by exactly one method, the one the client registered (§2.3),
 * refused as §5.2 spells it. A stand-in that skips these would hide a server that breaks them.
 */
export interface Refusal {
  status: number;
  body: { error: string; error_description: string };
  headers?: Record<string, string>;
}

/** How a template makes the client authenticate: `body` (client_id and client_secret fields) or HTTP `basic`. */
export type ClientAuthMethod = 'body' | 'basic';

export function formContentTypeRefusal(contentType: string | undefined): Refusal | undefined {
  if ((contentType ?? '').split(';')[0]?.trim().toLowerCase() === 'application/x-www-form-urlencoded') return undefined;
  return { status: 400, body: { error: 'invalid_request', error_description: 'The token request must be application/x-www-form-urlencoded (RFC 6749 §3.2).' } };
}

/** `clients` maps each registered client id to its secret. */
export function clientAuthRefusal(authorization: string | undefined, params: URLSearchParams, method: ClientAuthMethod, clients: Record<string, string>): Refusal | undefined {
  const known = (id: string | null | undefined, secret: string | null | undefined): boolean => id !== null && id !== undefined && Object.hasOwn(clients, id) && clients[id] === secret;
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(authorization ?? '');
  if (basic && params.has('client_secret')) {
    return { status: 400, body: { error: 'invalid_request', error_description: 'The client used more than one authentication method (RFC 6749 §2.3).' } };
  }
  const challenge = { 'www-authenticate': 'Basic realm="token"' };
  const failed = (description: string, headers?: Record<string, string>): Refusal => ({ status: 401, body: { error: 'invalid_client', error_description: description }, ...(headers ? { headers } : {}) });
  if (method === 'basic') {
    if (!basic) return failed('This client authenticates with HTTP Basic.', challenge);
    const [id, secret] = basicCredentials(basic[1] ?? '');
    if (!known(id, secret) || (params.has('client_id') && params.get('client_id') !== id)) return failed('Client authentication failed.', challenge);
    return undefined;
  }
  if (basic) return failed('This client authenticates with client_id and client_secret in the body.', challenge);
  if (!known(params.get('client_id'), params.get('client_secret'))) return failed('Client authentication failed.');
  return undefined;
}

/** §2.3.1: the id and the secret are form-encoded before they are joined with `:` and base64-encoded. */
function basicCredentials(encoded: string): [string | undefined, string | undefined] {
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return [undefined, undefined];
  try {
    const formDecode = (text: string): string => decodeURIComponent(text.replace(/\+/g, ' '));
    return [formDecode(decoded.slice(0, colon)), formDecode(decoded.slice(colon + 1))];
  } catch {
    return [undefined, undefined];
  }
}
