import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { chooseLogFormat, eventMessage } from '../src/log-format.js';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { scratchDir } from './support/scratch.js';

/**
 * Readable logs for a person at a terminal, JSON for machines. (test/logging.test.ts runs its secret checks
 * against both formats.)
 */

describe('which format the log is written in', () => {
  it.each([
    [undefined, true, 'pretty'],
    [undefined, false, 'json'],
    ['json', true, 'json'],
    ['pretty', false, 'pretty'],
  ] as const)('LOG_FORMAT=%s with a terminal: %s → %s', (setting, terminal, expected) => {
    expect(chooseLogFormat(setting, terminal)).toBe(expected);
  });

  it('takes LOG_FORMAT in any case, and refuses any other value naming the variable', () => {
    expect(loadConfig({ LOG_FORMAT: 'Pretty' }).logFormat).toBe('pretty');
    expect(loadConfig({}).logFormat).toBeUndefined();
    expect(() => loadConfig({ LOG_FORMAT: 'text' })).toThrow(ConfigError);
    expect(() => loadConfig({ LOG_FORMAT: 'text' })).toThrow(/^LOG_FORMAT must be "pretty" or "json"/);
  });

  it('shows the request id before the message of a request\'s line', () => {
    expect(eventMessage({ reqId: 'req-7', msg: 'request completed' }, 'msg')).toBe('[req-7] request completed');
    expect(eventMessage({ msg: 'Stopped cleanly.' }, 'msg')).toBe('Stopped cleanly.');
  });
});

// script(1) (util-linux) runs the server on a pseudo-terminal, as a person's shell does.
const SCRIPT = '/usr/bin/script';
const TSX = import.meta.resolve('tsx');
const SERVER = path.join(PACKAGE_ROOT, 'src/server.ts');

describe.skipIf(!existsSync(SCRIPT))('a server started on a terminal', () => {
  let database: TestDatabase;
  let occupied: net.Server;
  let port: number;

  beforeAll(async () => {
    database = await createTestDatabase();
    // The server's port is taken, so it logs its start-up lines and then stops by itself.
    occupied = net.createServer();
    await new Promise<void>((resolve) => occupied.listen(0, '127.0.0.1', resolve));
    port = (occupied.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => occupied?.close(resolve));
    await database?.drop();
  });

  function startOnTerminal(env: Record<string, string>): Promise<{ code: number | null; lines: string[] }> {
    const command = [process.execPath, '--import', TSX, SERVER].map((part) => `'${part}'`).join(' ');
    const child = spawn(SCRIPT, ['-qec', command, '/dev/null'], {
      cwd: scratchDir('terminal'),
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', TERM: 'xterm', NANGO_DATABASE_URL: database.url, SERVER_PORT: String(port), TELEMETRY: 'false', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    return new Promise((resolve) =>
      child.once('close', (code) => {
        clearTimeout(timer);
        // Colours are for the eye; the text underneath is what is checked.
        const lines = output.replace(/\u001b\[[0-9;]*m/g, '').split(/\r?\n/).filter((line) => line.trim() !== '');
        resolve({ code, lines });
      }),
    );
  }

  it('writes readable lines without being asked', async () => {
    const { code, lines } = await startOnTerminal({});
    expect(code).toBe(1);
    expect(lines).toContainEqual(expect.stringMatching(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: NANGO_SECRET_KEY is not set: /));
    expect(lines.filter((line) => line.startsWith('{'))).toEqual([]);
  });

  it('writes JSON with LOG_FORMAT=json, for a terminal that feeds a collector', async () => {
    const { code, lines } = await startOnTerminal({ LOG_FORMAT: 'json' });
    expect(code).toBe(1);
    const warning = lines.find((line) => line.includes('NANGO_SECRET_KEY is not set'));
    expect(JSON.parse(warning ?? '')).toMatchObject({ level: 40, msg: expect.stringMatching(/^NANGO_SECRET_KEY is not set: /) });
  });
});
