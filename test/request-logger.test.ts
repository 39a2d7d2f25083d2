import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { deferredRequestLogger } from '../src/app/request-logger.js';

/** A request's logger is made only when the request logs a line its level lets through; what it writes is unchanged. */
function loggerAt(level: string): { parent: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { parent: pino({ level }, sink), lines };
}

describe('the logger each request gets', () => {
  it('writes a line its level lets through with the request id, as a pino child would', () => {
    const { parent, lines } = loggerAt('info');
    const log = deferredRequestLogger(parent, { reqId: 'req-1' }, {});
    log.info({ status: 200 }, 'request completed');
    expect(lines).toEqual([expect.objectContaining({ reqId: 'req-1', status: 200, msg: 'request completed', level: 30 })]);
  });

  it('writes nothing, and makes no child logger, for lines below the level', () => {
    const { parent, lines } = loggerAt('warn');
    let children = 0;
    const counting = Object.create(parent, { child: { value: (...args: Parameters<pino.Logger['child']>) => (children++, parent.child(...args)) } }) as pino.Logger;
    const log = deferredRequestLogger(counting, { reqId: 'req-2' }, {});
    log.info('not written');
    log.debug({ detail: true }, 'not written either');
    expect(lines).toEqual([]);
    expect(children).toBe(0);
    log.warn('written');
    expect(children).toBe(1);
    expect(lines).toEqual([expect.objectContaining({ reqId: 'req-2', msg: 'written' })]);
  });

  it('follows the level of the server logger, also when it changes after the request started', () => {
    const { parent, lines } = loggerAt('warn');
    const log = deferredRequestLogger(parent, { reqId: 'req-3' }, {});
    expect(log.level).toBe('warn');
    parent.level = 'debug';
    log.debug('now written');
    expect(lines).toEqual([expect.objectContaining({ reqId: 'req-3', msg: 'now written' })]);
  });

  it('gives children of its own that keep the request id', () => {
    const { parent, lines } = loggerAt('info');
    deferredRequestLogger(parent, { reqId: 'req-4' }, {}).child({ part: 'proxy' }).info('relayed');
    expect(lines).toEqual([expect.objectContaining({ reqId: 'req-4', part: 'proxy', msg: 'relayed' })]);
  });

  it('makes the child at once for a request with a log level of its own', () => {
    const { parent, lines } = loggerAt('info');
    const log = deferredRequestLogger(parent, { reqId: 'req-5' }, { level: 'error' });
    log.warn('below the route level');
    log.error('at the route level');
    expect(lines.map((line) => line['msg'])).toEqual(['at the route level']);
  });
});
