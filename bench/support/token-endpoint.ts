import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * A provider's OAuth token endpoint on 127.0.0.1 that counts refresh requests. It rotates refresh tokens
 * and refuses a spent one (`invalid_grant`), as strict providers do, and answers after `delayMs`, standing
 * in for a real provider's latency (the window in which concurrent readers pile up).
 */
export interface TokenEndpoint {
  origin: string;
  /** Refresh requests received since the last `expect`, with the time each arrived (performance.now()). */
  refreshes(): { at: number; refreshToken: string; accepted: boolean }[];
  /** The refresh token the endpoint accepts next; earlier ones are spent. Clears the count. */
  expect(refreshToken: string): void;
  /** The access token handed out by the last accepted refresh. */
  lastAccessToken(): string | undefined;
  close(): Promise<void>;
}

export async function startTokenEndpoint(delayMs: number): Promise<TokenEndpoint> {
  let valid = '';
  let issued = 0;
  let lastAccessToken: string | undefined;
  let seen: { at: number; refreshToken: string; accepted: boolean }[] = [];
  const server = http.createServer((request, response) => {
    const at = performance.now();
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const answer = (status: number, body: Record<string, unknown>): void => {
        setTimeout(() => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)), delayMs);
      };
      if (request.url !== '/token' || params.get('grant_type') !== 'refresh_token') return answer(400, { error: 'unsupported_grant_type' });
      const refreshToken = params.get('refresh_token') ?? '';
      const accepted = refreshToken === valid && valid !== '';
      seen.push({ at, refreshToken, accepted });
      if (!accepted) return answer(400, { error: 'invalid_grant', error_description: 'The refresh token was already used.' });
      issued++;
      valid = `rotated-refresh-token-${issued}`;
      lastAccessToken = `fresh-access-token-${issued}`;
      answer(200, { access_token: lastAccessToken, refresh_token: valid, token_type: 'Bearer', expires_in: 3600 });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    refreshes: () => seen,
    expect: (refreshToken) => {
      valid = refreshToken;
      seen = [];
    },
    lastAccessToken: () => lastAccessToken,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
