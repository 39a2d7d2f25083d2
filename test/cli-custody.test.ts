import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCliProcess } from './support/cli-process.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { scratchDir } from './support/scratch.js';
import { buildTestApp, type TestApp } from './support/test-app.js';

/**
 * The CLI under its own name, `custody`: integrations of every auth mode, imported connections, connect
 * sessions and shell completion, as a real process against a real server. (test/cli.test.ts holds the
 * seed-era commands, run under the `nango` alias.)
 */

const SECRET_KEY = 'cli-custody-secret-key';
let database: TestDatabase;
let test: TestApp;
let baseUrl: string;

beforeAll(async () => {
  database = await createTestDatabase();
  test = await buildTestApp(database, { NANGO_SECRET_KEY: SECRET_KEY });
  await test.app.listen({ port: 0, host: '127.0.0.1' });
  const address = test.app.server.address();
  baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
});

beforeEach(async () => {
  await database.knex('_nango_connections').delete();
  await database.knex('_nango_configs').delete();
});

function custody(args: string[], options: { stdin?: string; env?: Record<string, string | undefined> } = {}) {
  return runCliProcess('custody', args, { env: { NANGO_HOSTPORT: baseUrl, NANGO_SECRET_KEY: SECRET_KEY, ...options.env }, ...(options.stdin !== undefined ? { stdin: options.stdin } : {}) });
}

async function api(method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) {
  const response = await test.app.inject({ method, url, headers: { authorization: `Bearer ${SECRET_KEY}` }, ...(payload ? { payload } : {}) });
  expect(response.statusCode, response.body).toBeLessThan(300);
  return response.json();
}

describe('its name', () => {
  it('is custody in messages and help', async () => {
    const typo = await custody(['config:lst']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe('custody: unknown command "config:lst"; did you mean "config:list"? Run "custody --help" for usage.\n');
    const help = await custody(['help', 'integration:create']);
    expect(help.stdout).toMatch(/^Usage: custody integration:create <key> <provider> \[options\]\n/);
    expect(help.stdout).toContain('  custody integration:create github-prod github --client-id');
  });
});

describe('integration:create, whatever the auth mode', () => {
  it('creates an OAuth 2 integration with the app registered with the provider, the secret read from standard input', async () => {
    const result = await custody(['integration:create', 'github-prod', 'github', '--client-id', 'client-1', '--client-secret', '-', '--scopes', 'repo,user'], { stdin: 'secret-from-stdin\n' });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Created integration "github-prod" \(github, OAUTH2\)\.\nRegister the server's OAuth callback URL as the redirect URI of your github app/);
    expect(result.stdout).toContain('custody connect-session:create <end user id> --integration github-prod');
    const { data } = await api('GET', '/integrations/github-prod?include=credentials');
    expect(data.credentials).toMatchObject({ type: 'OAUTH2', client_id: 'client-1', client_secret: 'secret-from-stdin', scopes: 'repo,user' });
  });

  it('creates an OAuth 1 integration with its consumer key and secret', async () => {
    expect((await custody(['integration:create', 'trello', 'trello', '--client-id', 'consumer-key', '--client-secret', 'consumer-secret'])).code).toBe(0);
    expect((await api('GET', '/integrations/trello?include=credentials')).data.credentials).toMatchObject({ type: 'OAUTH1', client_id: 'consumer-key', client_secret: 'consumer-secret' });
  });

  it.each([
    ['openai', 'API_KEY', 'by entering their API key in the Connect UI'],
    ['twilio', 'BASIC', 'by entering their user name and password in the Connect UI'],
    ['paypal', 'OAUTH2_CC', 'by entering their client id and secret in the Connect UI'],
    ['hacker-news', 'NONE', 'in the Connect UI, with nothing to enter'],
  ])('creates a %s integration (%s) with no app credentials, each connection bringing its own', async (provider, mode, connects) => {
    const result = await custody(['integration:create', `my-${provider}`, provider]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(`Created integration "my-${provider}" (${provider}, ${mode}).\nEnd users connect ${connects}; start one with: custody connect-session:create <end user id> --integration my-${provider}\n`);
    expect((await api('GET', `/integrations/my-${provider}`)).data).toMatchObject({ unique_key: `my-${provider}`, provider });
  });

  it('refuses app credentials for a provider whose connections bring their own, and creates nothing', async () => {
    const result = await custody(['integration:create', 'openai', 'openai', '--client-id', 'x', '--scopes', 'y']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('custody: the provider "openai" uses the API_KEY auth mode: its integration holds no --client-id and --scopes; each connection brings its own credentials. Run "custody integration:create --help" for usage.\n');
    expect((await api('GET', '/integrations')).data).toEqual([]);
  });

  it('names what an OAuth provider needs when it is missing', async () => {
    const result = await custody(['integration:create', 'github-prod', 'github', '--client-id', 'client-1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('the provider "github" uses the OAUTH2 auth mode: integration:create needs --client-secret (the app you registered with github).');
  });

  it("passes on the server's refusal of a provider it does not know", async () => {
    const result = await custody(['integration:create', 'mine', 'no-such-provider']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('Error: "no-such-provider" is not a provider of the catalog. (not_found)\n');
  });
});

describe('connection:import, whatever the auth mode', () => {
  const cases: [provider: string, args: string[], stdin: string | undefined, credentials: Record<string, unknown>][] = [
    ['github', ['--access-token', 'access-1', '--refresh-token', 'refresh-1', '--expires-at', '2099-01-01T00:00:00Z'], undefined, { type: 'OAUTH2', access_token: 'access-1', expires_at: '2099-01-01T00:00:00.000Z' }],
    ['trello', ['--oauth-token', 'token-1', '--oauth-token-secret', '-'], 'token-secret-1\n', { type: 'OAUTH1', oauth_token: 'token-1', oauth_token_secret: 'token-secret-1' }],
    ['openai', ['--api-key', '-'], 'sk-from-stdin\n', { type: 'API_KEY', apiKey: 'sk-from-stdin' }],
    ['twilio', ['--username', 'AC123', '--password', 'pw-1'], undefined, { type: 'BASIC', username: 'AC123', password: 'pw-1' }],
    ['paypal', ['--token', 'cc-token', '--client-id', 'cc-client', '--client-secret', 'cc-secret'], undefined, { type: 'OAUTH2_CC', token: 'cc-token', client_id: 'cc-client', client_secret: 'cc-secret' }],
    ['hacker-news', [], undefined, { type: 'NONE' }],
  ];

  it.each(cases)('imports a %s connection with the credentials its auth mode takes', async (provider, args, stdin, credentials) => {
    await api('POST', '/integrations', { unique_key: 'app', provider, ...(['github', 'trello'].includes(provider) ? { credentials: { type: provider === 'github' ? 'OAUTH2' : 'OAUTH1', client_id: 'id', client_secret: 'secret' } } : {}) });
    const result = await custody(['connection:import', 'app', 'user-1', ...args, '--metadata', '{"plan":"pro"}'], stdin === undefined ? {} : { stdin });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`Imported connection "user-1" of integration "app" (${String(credentials['type'])}).\n`);
    const connection = await api('GET', '/connections/user-1?provider_config_key=app');
    expect(connection.credentials).toMatchObject(credentials);
    expect(connection.metadata).toEqual({ plan: 'pro' });
  });

  it('hands the imported API key back through token:get', async () => {
    await api('POST', '/integrations', { unique_key: 'openai', provider: 'openai' });
    expect((await custody(['connection:import', 'openai', 'user-1', '--api-key', 'sk-imported-1'])).code).toBe(0);
    expect(await custody(['token:get', 'openai', 'user-1'])).toEqual({ code: 0, stdout: 'sk-imported-1\n', stderr: '' });
  });

  it("refuses credentials the integration's auth mode does not take, and what it lacks, importing nothing", async () => {
    await api('POST', '/integrations', { unique_key: 'github-prod', provider: 'github', credentials: { type: 'OAUTH2', client_id: 'id', client_secret: 'secret' } });
    const wrong = await custody(['connection:import', 'github-prod', 'user-1', '--api-key', 'sk-1']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('the integration "github-prod" uses the OAUTH2 auth mode: its connections take no --api-key.');
    const lacking = await custody(['connection:import', 'github-prod', 'user-1', '--refresh-token', 'r']);
    expect(lacking.code).toBe(2);
    expect(lacking.stderr).toContain('the integration "github-prod" uses the OAUTH2 auth mode: connection:import needs --access-token.');
    expect((await api('GET', '/connections')).connections).toEqual([]);
  });

  it('refuses connection parameters that are not a JSON object', async () => {
    await api('POST', '/integrations', { unique_key: 'openai', provider: 'openai' });
    const result = await custody(['connection:import', 'openai', 'user-1', '--api-key', 'k', '--connection-config', 'subdomain=acme']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--connection-config must be a JSON object such as \'{"subdomain":"acme"}\' (got "subdomain=acme").');
  });
});

describe('connect-session:create', () => {
  it('prints a session token and connect link that the Connect UI accepts, for the integrations given', async () => {
    await api('POST', '/integrations', { unique_key: 'openai', provider: 'openai' });
    const result = await custody(['connect-session:create', 'user-42', '--integration', 'openai', '--email', 'user42@example.com']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const token = /^Token:\s+(\S+)$/m.exec(result.stdout)?.[1] ?? '';
    expect(result.stdout).toMatch(new RegExp(`^Connect link:\\s+http://localhost:\\d+/connect/\\?session_token=${token}$`, 'm'));
    expect(result.stdout).toMatch(/^Expires at:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/m);
    const session = await test.app.inject({ method: 'GET', url: '/connect/session', headers: { authorization: `Bearer ${token}` } });
    expect(session.json().data).toMatchObject({ allowed_integrations: ['openai'], endUser: { id: 'user-42', email: 'user42@example.com' } });
  });

  it('prints the server\'s answer with --json', async () => {
    const result = await custody(['connect-session:create', 'user-42', '--json']);
    expect(JSON.parse(result.stdout).data).toMatchObject({ token: expect.any(String), connect_link: expect.any(String), expires_at: expect.any(String) });
  });
});

describe('completion', () => {
  function shellRuns(shell: string, script: string, commands: string): { status: number | null; stdout: string; stderr: string } {
    const file = path.join(scratchDir('completion'), 'script');
    writeFileSync(file, script);
    // A HOME of its own (zsh's compinit and fish write there), and no stdin: bash given a socket as stdin thinks
    // it runs under rshd and reads ~/.bashrc, and Node's pipes are socket pairs.
    const home = scratchDir('completion-home');
    const result = spawnSync(shell, shell === 'fish' ? ['--no-config', '-c', commands.replaceAll('$SCRIPT', file)] : ['-c', commands.replaceAll('$SCRIPT', file)], {
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '', HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 20_000,
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  it('prints a bash script that bash accepts and that completes custody once sourced', async () => {
    const { code, stdout: script } = await custody(['completion', 'bash']);
    expect(code).toBe(0);
    expect(shellRuns('bash', script, 'bash -n "$SCRIPT"')).toMatchObject({ status: 0, stderr: '' });
    const complete = (line: string) => `COMP_LINE='${line}'; COMP_POINT=\${#COMP_LINE}; COMPREPLY=(); _custody_complete; echo "\${COMPREPLY[*]}"`;
    const run = shellRuns('bash', script, ['source "$SCRIPT"', 'complete -p custody', complete('custody integ'), complete('custody config:g'), complete('custody connection:import --api'), complete('custody completion ')].join('\n'));
    expect(run).toMatchObject({ status: 0, stderr: '' });
    expect(run.stdout.split('\n')).toEqual(['complete -F _custody_complete custody', 'integration:create', 'get', '--api-key', 'bash zsh fish', '']);
  });

  it('completes the alias under its own name when called as nango', async () => {
    const { stdout: script } = await runCliProcess('nango', ['completion', 'bash']);
    expect(shellRuns('bash', script, 'source "$SCRIPT" && complete -p nango')).toMatchObject({ status: 0, stdout: 'complete -F _nango_complete nango\n' });
  });

  it.skipIf(!existsSync('/usr/bin/zsh'))('prints a zsh script that zsh accepts and registers for custody', async () => {
    const { stdout: script } = await custody(['completion', 'zsh']);
    expect(script.startsWith('#compdef custody\n')).toBe(true);
    expect(shellRuns('zsh', script, 'zsh -n "$SCRIPT" && autoload -U compinit && compinit -u -D && source "$SCRIPT" && print ${_comps[custody]}')).toMatchObject({ status: 0, stdout: '_custody\n' });
  });

  it.skipIf(!existsSync('/usr/bin/fish'))('prints a fish script that fish accepts and that completes custody', async () => {
    const { stdout: script } = await custody(['completion', 'fish']);
    const run = shellRuns('fish', script, 'fish -n $SCRIPT; and source $SCRIPT; and complete -C "custody completion "');
    expect(run).toMatchObject({ status: 0 });
    expect(run.stdout.split('\n').filter(Boolean)).toEqual(['bash', 'fish', 'zsh']);
  });

  it('refuses a shell it has no script for', async () => {
    const result = await custody(['completion', 'powershell']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('custody: completion takes bash, zsh or fish (got "powershell"). Run "custody completion --help" for usage.\n');
  });
});
