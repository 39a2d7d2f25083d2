import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { VERSION } from '../src/version.js';
import { createTestDatabase, deleteIntegrations, type TestDatabase } from './support/database.js';
import { freePort } from './support/free-port.js';
import { runCliProcess, type CliResult } from './support/cli-process.js';
import { buildTestApp, type TestApp } from './support/test-app.js';

/** The command-line client under its seed-era name `nango`, run as a real process against a real server listening on a loopback port. */

const SECRET_KEY = 'cli-test-secret-key';

let database: TestDatabase;
let test: TestApp;
let baseUrl: string;
let tempRoot: string;

beforeAll(async () => {
  database = await createTestDatabase();
  test = await buildTestApp(database, { NANGO_SECRET_KEY: SECRET_KEY });
  await test.app.listen({ port: 0, host: '127.0.0.1' });
  const address = test.app.server.address();
  baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  tempRoot = mkdtempSync(path.join(os.tmpdir(), 'custody-cli-'));
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
  if (tempRoot) rmSync(tempRoot, { recursive: true, force: true });
});

beforeEach(async () => {
  await deleteIntegrations(database);
});

/** Runs the CLI under its seed-era name `nango` with a clean environment: the test's server and key unless `env` overrides them (undefined removes one). */
function cli(args: string[], options: { env?: Record<string, string | undefined>; cwd?: string } = {}): Promise<CliResult> {
  return runCliProcess('nango', args, { env: { NANGO_HOSTPORT: baseUrl, NANGO_SECRET_KEY: SECRET_KEY, ...options.env }, ...(options.cwd ? { cwd: options.cwd } : {}) });
}

const github = { provider_config_key: 'github-prod', provider: 'github', oauth_client_id: 'client-1', oauth_client_secret: 'secret-value-1', oauth_scopes: 'repo,user' };
const oauth2Connection = { connection_id: 'user-1', provider_config_key: 'github-prod', type: 'OAUTH2', access_token: 'access-token-1', refresh_token: 'refresh-token-1', expires_at: '2099-01-01T00:00:00.000Z' };

async function api(method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) {
  const response = await test.app.inject({ method, url, headers: { authorization: `Bearer ${SECRET_KEY}` }, ...(payload ? { payload } : {}) });
  expect(response.statusCode).toBeLessThan(300);
  return response.json();
}

async function seedConfig(overrides: Record<string, unknown> = {}): Promise<void> {
  await api('POST', '/config', { ...github, ...overrides });
}

async function seedConnection(overrides: Record<string, unknown> = {}): Promise<void> {
  await seedConfig();
  await api('POST', '/connection', { ...oauth2Connection, ...overrides });
}

describe('integrations (config:*)', () => {
  it('config:create creates the integration and names it', async () => {
    const result = await cli(['config:create', 'github-prod', 'github', 'client-1', 'secret-value-1', 'repo user']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^Created integration "github-prod" \(id \d+\)\.\n$/);
    expect((await api('GET', '/config/github-prod')).config).toMatchObject({ provider: 'github', oauth_client_id: 'client-1', oauth_scopes: 'repo,user' });
  });

  it('config:list prints an aligned table of key, provider, client id, scopes and creation date, without secrets', async () => {
    await seedConfig();
    await seedConfig({ provider_config_key: 'slack', provider: 'slack', oauth_client_id: 'slack-client-id', oauth_scopes: 'chat:write' });
    const result = await cli(['config:list']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^UNIQUE KEY\s+PROVIDER\s+CLIENT ID\s+SCOPES\s+CREATED$/);
    expect(lines.slice(1).sort()).toEqual([
      expect.stringMatching(/^github-prod\s+github\s+client-1\s+repo,user\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/),
      expect.stringMatching(/^slack\s+slack\s+slack-client-id\s+chat:write\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/),
    ]);
    // Every column starts at the same offset on every line.
    const header = lines[0] ?? '';
    for (const line of lines.slice(1)) {
      expect(line[header.indexOf('PROVIDER') - 1]).toBe(' ');
      expect(line[header.indexOf('PROVIDER')]).not.toBe(' ');
      expect(line[header.indexOf('CREATED')]).toMatch(/\d/);
    }
    expect(result.stdout).not.toContain('secret-value-1');
  });

  it('config:get prints a key/value block with the client secret masked', async () => {
    await seedConfig();
    const result = await cli(['config:get', 'github-prod']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Unique key:\s+github-prod$/m);
    expect(result.stdout).toMatch(/^Provider:\s+github$/m);
    expect(result.stdout).toMatch(/^Client id:\s+client-1$/m);
    expect(result.stdout).toMatch(/^Client secret:\s+sec•••• {2}\(--show-secret to reveal\)$/m);
    expect(result.stdout).toMatch(/^Scopes:\s+repo,user$/m);
    expect(result.stdout).not.toContain('secret-value-1');
  });

  it('config:get --show-secret reveals the client secret', async () => {
    await seedConfig();
    const result = await cli(['config:get', 'github-prod', '--show-secret']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Client secret:\s+secret-value-1$/m);
  });

  it('config:edit replaces the settings with PUT /config', async () => {
    await seedConfig();
    const result = await cli(['config:edit', 'github-prod', 'github', 'client-2', 'secret-value-2', 'repo']);
    expect(result).toEqual({ code: 0, stdout: 'Updated integration "github-prod".\n', stderr: '' });
    expect((await api('GET', '/config/github-prod')).config).toMatchObject({ oauth_client_id: 'client-2', oauth_client_secret: 'secret-value-2', oauth_scopes: 'repo' });
  });

  it('config:delete deletes the integration and its connections', async () => {
    await seedConnection();
    const result = await cli(['config:delete', 'github-prod']);
    expect(result).toEqual({ code: 0, stdout: 'Deleted integration "github-prod" and its connections.\n', stderr: '' });
    expect((await api('GET', '/config')).configs).toEqual([]);
    expect((await api('GET', '/connection')).connections).toEqual([]);
  });
});

describe('connections (connection:*, token:get)', () => {
  it('connection:list prints id, connection id, provider config key and creation date', async () => {
    await seedConnection();
    const result = await cli(['connection:list']);
    expect(result.code).toBe(0);
    const [header, row, ...rest] = result.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+CONNECTION ID\s+PROVIDER CONFIG KEY\s+CREATED$/);
    expect(row).toMatch(/^\d+\s+user-1\s+github-prod\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    expect(rest).toEqual([]);
  });

  it('connection:get prints the connection with its tokens masked', async () => {
    await seedConnection({ metadata: { plan: 'pro' } });
    const result = await cli(['connection:get', 'github-prod', 'user-1']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Connection id:\s+user-1$/m);
    expect(result.stdout).toMatch(/^Provider config key:\s+github-prod$/m);
    expect(result.stdout).toMatch(/^Type:\s+OAUTH2$/m);
    expect(result.stdout).toMatch(/^Access token:\s+acc••••$/m);
    expect(result.stdout).toMatch(/^Refresh token:\s+ref••••$/m);
    expect(result.stdout).toMatch(/^Expires at:\s+2099-01-01 00:00:00 UTC$/m);
    expect(result.stdout).toMatch(/^Metadata:\s+\{"plan":"pro"\}$/m);
    expect(result.stdout).not.toContain('access-token-1');
    expect(result.stdout).not.toContain('refresh-token-1');
  });

  it('token:get prints the OAuth2 access token alone', async () => {
    await seedConnection();
    const result = await cli(['token:get', 'github-prod', 'user-1']);
    expect(result).toEqual({ code: 0, stdout: 'access-token-1\n', stderr: '' });
  });

  it('token:get prints the OAuth1 token and token secret', async () => {
    await seedConnection({ type: 'OAUTH1', access_token: undefined, refresh_token: undefined, expires_at: undefined, oauth_token: 'oauth1-token', oauth_token_secret: 'oauth1-token-secret' });
    const result = await cli(['token:get', 'github-prod', 'user-1']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Token:\s+oauth1-token\nToken secret:\s+oauth1-token-secret\n$/);
  });

  it('token:get --json prints the credentials object', async () => {
    await seedConnection();
    const result = await cli(['token:get', 'github-prod', 'user-1', '--json']);
    expect(result.code).toBe(0);
    const connection = await api('GET', '/connection/user-1?provider_config_key=github-prod');
    expect(JSON.parse(result.stdout)).toEqual(connection.credentials);
  });

  it('connection:delete deletes the connection', async () => {
    await seedConnection();
    const result = await cli(['connection:delete', 'github-prod', 'user-1']);
    expect(result).toEqual({ code: 0, stdout: 'Deleted connection "user-1" of integration "github-prod".\n', stderr: '' });
    expect((await api('GET', '/connection')).connections).toEqual([]);
  });
});

describe('--json', () => {
  it.each([
    [['config:list', '--json'], '/config'],
    [['config:get', 'github-prod', '--json'], '/config/github-prod'],
    [['connection:list', '--json'], '/connection'],
    [['--json', 'connection:get', 'github-prod', 'user-1'], '/connection/user-1?provider_config_key=github-prod'],
  ])('%j prints what GET %s answers', async (args, url) => {
    await seedConnection();
    const result = await cli(args);
    expect(result.code).toBe(0);
    // A connection's last_fetched_at is the time of the read that answers it, so two reads differ there only.
    const printed = withFetchTime(JSON.parse(result.stdout));
    const answered = withFetchTime(await api('GET', url));
    expect(printed).toEqual(answered);
  });

  it('config:create --json prints the new id as the server answers it', async () => {
    const result = await cli(['config:create', 'github-prod', 'github', 'client-1', 'secret-value-1', 'repo', '--json']);
    expect(result.code).toBe(0);
    const [config] = (await api('GET', '/config')).configs;
    expect(JSON.parse(result.stdout)).toEqual({ config_id: config.id });
  });
});

describe('exit codes', () => {
  it('1 with the server\'s message and type when the server answers an error', async () => {
    const result = await cli(['config:get', 'no-such-key']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^Error: .+ \(unknown_provider_config\)\n$/);
  });

  it('2 for an unknown command, with a hint to --help', async () => {
    const result = await cli(['config:lst']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('nango: unknown command "config:lst"; did you mean "config:list"? Run "nango --help" for usage.\n');
  });

  it('2 for a missing argument, naming it', async () => {
    const result = await cli(['config:create', 'github-prod', 'github']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('nango: config:create needs <client_id>, <client_secret> and <scopes>. Run "nango config:create --help" for usage.\n');
  });

  it('3 naming the host when nothing listens there', async () => {
    const closedPort = await freePort();
    const result = await cli(['config:list'], { env: { NANGO_HOSTPORT: `http://127.0.0.1:${closedPort}` } });
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(`Cannot reach the server at http://127.0.0.1:${closedPort}: connection refused\n`);
  });

  it('3 when the server does not answer within --timeout', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const result = await cli(['config:list', '--timeout', '0.5'], { env: { NANGO_HOSTPORT: `http://127.0.0.1:${port}` } });
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(new RegExp(`^Cannot reach the server at http://127\\.0\\.0\\.1:${port}: no answer within 0\\.5 s .*\\n$`));
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('4 when the secret key is rejected, naming NANGO_SECRET_KEY', async () => {
    const result = await cli(['config:list'], { env: { NANGO_SECRET_KEY: 'wrong-key' } });
    expect(result.code).toBe(4);
    expect(result.stderr).toBe(`Authentication failed: the server at ${baseUrl} rejected the secret key in NANGO_SECRET_KEY (invalid_secret_key).\n`);
  });

  it('4 when no secret key is set, saying to set NANGO_SECRET_KEY', async () => {
    const result = await cli(['connection:list'], { env: { NANGO_SECRET_KEY: undefined } });
    expect(result.code).toBe(4);
    expect(result.stderr).toBe(`Authentication failed: the server at ${baseUrl} requires a secret key; set NANGO_SECRET_KEY (missing_auth_header).\n`);
  });
});

describe('help and version', () => {
  it('--help lists every command', async () => {
    const result = await cli(['--help']);
    expect(result.code).toBe(0);
    for (const command of ['config:list', 'config:get <key>', 'config:create <key> <provider> <client_id> <client_secret> <scopes>', 'config:edit', 'config:delete', 'connection:list', 'connection:get <key> <connection_id>', 'connection:delete', 'token:get', 'init [dir]']) {
      expect(result.stdout).toContain(command);
    }
  });

  it('help <command> shows the usage of that command', async () => {
    const result = await cli(['help', 'token:get']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: nango token:get <key> <connection_id> \[options\]\n/);
    expect(result.stdout).toContain('--force-refresh');
  });

  it('--version prints the package version', async () => {
    expect(await cli(['--version'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });
});

describe('init', () => {
  const COMPOSE = 'services:\n  custody:\n    build:\n      context: .\n    env_file: .env\n    volumes:\n      - ./nginx.conf:/etc/nginx/conf.d/default.conf:ro\n';

  /** Stand-ins for the package's docker-compose.yml, nginx.conf and .env.template. */
  function sourceDir(): string {
    const dir = mkdtempSync(path.join(tempRoot, 'source-'));
    writeFileSync(path.join(dir, 'docker-compose.yml'), COMPOSE);
    writeFileSync(path.join(dir, 'nginx.conf'), 'server { listen 80; }\n');
    writeFileSync(path.join(dir, '.env.template'), '# Generate one with: openssl rand -hex 32\n# NANGO_SECRET_KEY=\n# NANGO_ENCRYPTION_KEY=\n# LOG_LEVEL=info\n');
    return dir;
  }

  function readEnv(file: string): Record<string, string> {
    return Object.fromEntries(
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
  }

  it('writes docker-compose.yml, nginx.conf and a private .env with fresh secrets into ./nango by default', async () => {
    const source = sourceDir();
    const cwd = mkdtempSync(path.join(tempRoot, 'cwd-'));
    const result = await cli(['init'], { cwd, env: { CUSTODY_INIT_SOURCE_DIR: source } });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('cd nango && docker compose up -d');
    const dir = path.join(cwd, 'nango');
    // Copied as they are, except that the image is still built from the folder holding the Dockerfile.
    expect(readFileSync(path.join(dir, 'docker-compose.yml'), 'utf8')).toBe(COMPOSE.replace('context: .', `context: ${JSON.stringify(source)}`));
    expect(readFileSync(path.join(dir, 'nginx.conf'), 'utf8')).toBe(readFileSync(path.join(source, 'nginx.conf'), 'utf8'));
    expect(statSync(path.join(dir, '.env')).mode & 0o777).toBe(0o600);
    const envText = readFileSync(path.join(dir, '.env'), 'utf8');
    expect(envText).toContain('# Generate one with: openssl rand -hex 32\n');
    expect(envText).toContain('# LOG_LEVEL=info\n');
    expect(envText).not.toMatch(/^# NANGO_(SECRET|ENCRYPTION)_KEY=/m);
    const env = readEnv(path.join(dir, '.env'));
    expect(env['NANGO_SECRET_KEY']).toMatch(/^[0-9a-f]{64}$/);
    expect(Buffer.from(env['NANGO_ENCRYPTION_KEY'] ?? '', 'base64')).toHaveLength(32);
    expect(result.stdout).not.toContain(env['NANGO_SECRET_KEY']);
    expect(result.stdout).not.toContain(env['NANGO_ENCRYPTION_KEY']);
  });

  it('generates different secrets on every run', async () => {
    const source = sourceDir();
    const [first, second] = [path.join(tempRoot, `a-${randomBytes(4).toString('hex')}`), path.join(tempRoot, `b-${randomBytes(4).toString('hex')}`)];
    const results = await Promise.all([first, second].map((dir) => cli(['init', dir], { env: { CUSTODY_INIT_SOURCE_DIR: source } })));
    expect(results.map((result) => result.code)).toEqual([0, 0]);
    const [a, b] = [readEnv(path.join(first, '.env')), readEnv(path.join(second, '.env'))];
    expect(a['NANGO_SECRET_KEY']).not.toBe(b['NANGO_SECRET_KEY']);
    expect(a['NANGO_ENCRYPTION_KEY']).not.toBe(b['NANGO_ENCRYPTION_KEY']);
  });

  it('refuses to overwrite existing files without --force, and overwrites them with it', async () => {
    const source = sourceDir();
    const dir = path.join(tempRoot, `existing-${randomBytes(4).toString('hex')}`);
    mkdirSync(dir);
    writeFileSync(path.join(dir, '.env'), 'MINE=1\n', { mode: 0o644 });

    const refused = await cli(['init', dir], { env: { CUSTODY_INIT_SOURCE_DIR: source } });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^Error: .*\.env already exists; nothing was written \(use --force to overwrite\)\.\n$/);
    expect(readFileSync(path.join(dir, '.env'), 'utf8')).toBe('MINE=1\n');
    expect(existsSync(path.join(dir, 'docker-compose.yml'))).toBe(false);

    const forced = await cli(['init', dir, '--force'], { env: { CUSTODY_INIT_SOURCE_DIR: source } });
    expect(forced.code).toBe(0);
    expect(readEnv(path.join(dir, '.env'))['NANGO_SECRET_KEY']).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(path.join(dir, '.env')).mode & 0o777).toBe(0o600);
  });

  const packageFiles = ['docker-compose.yml', 'nginx.conf', '.env.template'].map((name) => path.join(PACKAGE_ROOT, name));
  it.skipIf(!packageFiles.every((file) => existsSync(file)))('copies the package\'s own files, filling in the secrets of .env.template', async () => {
    const dir = path.join(tempRoot, `package-${randomBytes(4).toString('hex')}`);
    const result = await cli(['init', dir]);
    expect(result.code).toBe(0);
    const compose = readFileSync(path.join(dir, 'docker-compose.yml'), 'utf8');
    expect(compose).toBe(readFileSync(path.join(PACKAGE_ROOT, 'docker-compose.yml'), 'utf8').replace(/^(\s*context:\s*)\.$/m, (_line, prefix: string) => `${prefix}${JSON.stringify(PACKAGE_ROOT)}`));
    expect(readFileSync(path.join(dir, 'nginx.conf'), 'utf8')).toBe(readFileSync(path.join(PACKAGE_ROOT, 'nginx.conf'), 'utf8'));
    const env = readEnv(path.join(dir, '.env'));
    expect(env['NANGO_SECRET_KEY']).toMatch(/^[0-9a-f]{64}$/);
    expect(Buffer.from(env['NANGO_ENCRYPTION_KEY'] ?? '', 'base64')).toHaveLength(32);
  });
});

/** A read's last_fetched_at, when it has one, checked to be a time and then set aside. */
function withFetchTime(body: unknown): unknown {
  if (typeof body !== 'object' || body === null || !('last_fetched_at' in body)) return body;
  const { last_fetched_at: fetchedAt, ...rest } = body as Record<string, unknown>;
  expect(Number.isNaN(Date.parse(String(fetchedAt)))).toBe(false);
  return rest;
}
