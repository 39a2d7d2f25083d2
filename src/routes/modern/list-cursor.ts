import { ApiError } from '../../errors.js';
import type { ListPosition } from '../../store/connections-store.js';

/**
 * The `cursor` of `GET /connections`: an opaque token for the position of a page's last connection, handed out in
 * the answer's `Link: <…>; rel="next"` header (RFC 8288), so the body keeps Nango's shape. It names no secret; a
 * caller that forges one only moves where its own list starts.
 */
export function encodeListCursor(position: ListPosition): string {
  return Buffer.from(`${position.createdMicros}.${position.id}`).toString('base64url');
}

export function decodeListCursor(cursor: string): ListPosition {
  const match = /^(-?\d{1,19})\.(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw new ApiError('invalid_query_params', 'The query parameter "cursor" is not one this server handed out: pass the cursor of the previous answer\'s Link header (rel="next") as it is.');
  return { createdMicros: match[1] as string, id: Number(match[2]) };
}

/** The next page's address: the request's own, with its page number replaced by the cursor. */
export function nextPageLink(requestUrl: string, position: ListPosition): string {
  const url = new URL(requestUrl, 'http://server.invalid');
  url.searchParams.delete('page');
  url.searchParams.set('cursor', encodeListCursor(position));
  return `<${url.pathname}${url.search}>; rel="next"`;
}
