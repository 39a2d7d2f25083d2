import type { FastifyInstance } from 'fastify';
import secureJsonParse from 'secure-json-parse';
import { ApiError } from '../errors.js';

/** Largest request body accepted (JSON); larger bodies get a 413 before they are buffered whole. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

const MAX_JSON_DEPTH = 64;

/**
 * Only JSON bodies: text and form bodies are refused with 415 instead of being half-understood, and a JSON body
 * that could not be stored (prototype keys, NUL characters, absurd nesting) is a 400 before any route sees it.
 * The proxy replaces these parsers in its own scope: it relays bodies as streams.
 */
export function registerBodyParsers(app: FastifyInstance): void {
  app.removeContentTypeParser(['text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    // Clients (axios among them) send a JSON content type on DELETEs and GETs without a body: that is no body, not an error.
    if (typeof body !== 'string' || body.trim() === '') return done(null, undefined);
    let parsed: unknown;
    try {
      parsed = secureJsonParse.parse(body, undefined, { protoAction: 'error', constructorAction: 'error' });
    } catch (error) {
      const forbidden = /prototype property/i.test((error as Error).message);
      return done(
        forbidden ? new ApiError('invalid_body', 'The request body has a "__proto__" or "constructor" key, which this server refuses.') : new ApiError('invalid_json', 'The request body is not valid JSON.'),
        undefined,
      );
    }
    const problem = unstorableJson(parsed);
    if (problem) return done(new ApiError('invalid_body', problem), undefined);
    done(null, parsed);
  });
}

/**
 * What PostgreSQL or the server could not store from a parsed JSON body: NUL characters (text and jsonb
 * refuse them) and nesting deeper than any real document (serialising it again would overflow the stack).
 */
function unstorableJson(value: unknown): string | undefined {
  const stack: { node: unknown; depth: number }[] = [{ node: value, depth: 0 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop() as { node: unknown; depth: number };
    if (typeof node === 'string') {
      if (node.includes('\u0000')) return 'A value in the request body contains a NUL character, which cannot be stored.';
      continue;
    }
    if (typeof node !== 'object' || node === null) continue;
    if (depth >= MAX_JSON_DEPTH) return `The request body is nested more than ${MAX_JSON_DEPTH} levels deep.`;
    for (const [key, child] of Object.entries(node)) {
      if (key.includes('\u0000')) return 'A key in the request body contains a NUL character, which cannot be stored.';
      stack.push({ node: child, depth: depth + 1 });
    }
  }
  return undefined;
}
