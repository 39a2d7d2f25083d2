import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freeLoopbackPort, portsBelowEphemeralRange } from '../src/db/free-port.js';

/** The port the embedded database (and a spec's server whose URL is needed first) binds a moment after choosing it. */
describe('a free loopback port', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'free-port-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const rangeFile = (text: string): string => {
    const file = path.join(dir, `range-${Math.random().toString(36).slice(2)}`);
    writeFileSync(file, text);
    return file;
  };

  it('can be listened on right after it is chosen', async () => {
    const port = await freeLoopbackPort();
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it.runIf(process.platform === 'linux')('lies below the kernel ephemeral range, where outgoing connections never take it', async () => {
    const range = portsBelowEphemeralRange();
    expect(range).toBeDefined();
    const port = await freeLoopbackPort();
    expect(port).toBeGreaterThanOrEqual(range!.first);
    expect(port).toBeLessThanOrEqual(range!.last);
  });

  it('is drawn from the lower half of the ports under the ephemeral range', () => {
    expect(portsBelowEphemeralRange(rangeFile('32768\t60999\n'))).toEqual({ first: 16_384, last: 32_767 });
  });

  it('keeps clear of the well-known ports when the ephemeral range starts low', () => {
    expect(portsBelowEphemeralRange(rangeFile('15000 60999\n'))).toEqual({ first: 10_000, last: 14_999 });
  });

  it('falls back to a port the kernel picks when the range is unknown or leaves no room below it', () => {
    expect(portsBelowEphemeralRange(path.join(dir, 'missing'))).toBeUndefined();
    expect(portsBelowEphemeralRange(rangeFile('1024 65535\n'))).toBeUndefined();
    expect(portsBelowEphemeralRange(rangeFile('nonsense'))).toBeUndefined();
  });
});
