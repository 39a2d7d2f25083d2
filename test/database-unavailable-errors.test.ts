import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../src/db/database-unavailable.js';

/**
 * Which errors mean "the database cannot be reached right now" (a 503 for a request, a retry at start) rather
 * than a fault of the request or the server.
 */
describe('an unreachable database is recognised', () => {
  it.each([
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['a server shutting down', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })],
    ['knex waiting too long for a pooled connection', Object.assign(new Error('Knex: Timeout acquiring a connection.'), { name: 'KnexTimeoutError' })],
    ['a connection that dropped', new Error('Connection terminated unexpectedly')],
    ['a connect attempt that ran out of time (a container network whose name lookup hangs)', new Error('timeout expired')],
  ])('%s', (_what, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    ['a constraint violation', Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' })],
    ['a query that timed out for its own reasons', new Error('Query read timeout expired after 5000 ms')],
    ['a programming error', new TypeError('Cannot read properties of undefined')],
  ])('but not %s', (_what, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});
