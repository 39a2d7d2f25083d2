import http from 'node:http';
import { performance } from 'node:perf_hooks';

/** One reader's outcome: its status, the access token it was handed, and when its answer was complete. */
export interface ReadOutcome {
  status: number;
  accessToken: string | undefined;
  doneAt: number;
}

/**
 * `count` concurrent `GET /connection/:id`, spread round-robin over the servers, all started in one tick.
 * node:http with an agent of unlimited sockets rather than fetch: every reader gets a socket of its own (kept
 * alive from the warm-up round), so none waits behind another on the client side.
 */
export function concurrentReads(agent: http.Agent, baseUrls: string[], path: string, headers: Record<string, string>, count: number): Promise<ReadOutcome[]> {
  return Promise.all(Array.from({ length: count }, (_, index) => readOnce(agent, `${baseUrls[index % baseUrls.length] ?? ''}${path}`, headers)));
}

function readOnce(agent: http.Agent, url: string, headers: Record<string, string>): Promise<ReadOutcome> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const doneAt = performance.now();
        let accessToken: string | undefined;
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { credentials?: { access_token?: unknown } };
          accessToken = typeof body.credentials?.access_token === 'string' ? body.credentials.access_token : undefined;
        } catch {
          accessToken = undefined;
        }
        resolve({ status: response.statusCode ?? 0, accessToken, doneAt });
      });
    });
    request.on('error', reject);
  });
}
