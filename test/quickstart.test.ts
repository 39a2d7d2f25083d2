import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { hasChromium, launchBrowser, openPage, SCREENSHOTS, type Browser } from './support/browser.js';
import { shellBlocks, ShellSession, type DocBlock } from './support/doc-commands.js';
import { freePort } from './support/free-port.js';
import { startGitHubStandIn, startOpenAiStandIn, type GitHubStandIn, type OpenAiStandIn } from './support/quickstart-stand-ins.js';
import { scratchDir } from './support/scratch.js';

/**
 * docs/quickstart.md, run as a reader runs it: every shell block, in order, in a copy of this clone (so its
 * `.env` and `./nango-data` are the copy's), the server started with the document's own `npm start`. What the
 * reader does by hand, the spec does: it types the API key into the Connect UI and approves GitHub's consent
 * page in Chromium, and pastes the OAuth app's client id and secret. The only changes to the document's
 * commands: port 3003 becomes a free one, and the server is given a provider overlay (NANGO_PROVIDERS_FILE)
 * that points OpenAI and GitHub at stand-ins on 127.0.0.1; no real provider is contacted.
 */

const DOCUMENT = path.join(PACKAGE_ROOT, 'docs/quickstart.md');
const SECTIONS = ['1. Start the server', '2. Connect an API-key account through the Connect UI', '3. Connect a GitHub account through OAuth', '4. Read the tokens', '5. Call the APIs through the proxy'];

describe.skipIf(!hasChromium)('the quickstart, run as written', () => {
  let clone: string;
  let port: number;
  let blocks: DocBlock[];
  let github: GitHubStandIn;
  let openai: OpenAiStandIn;
  let server: ChildProcess | undefined;
  let serverOutput = '';
  let serverEnv: Record<string, string>;
  let shell: ShellSession;
  let browser: Browser;
  const ran = new Set<DocBlock>();

  const inSection = (prefix: string) => blocks.filter((block) => block.section.startsWith(prefix) && !block.tags.includes('server'));
  async function runSection(prefix: string, input: (block: DocBlock) => string = () => ''): Promise<string[]> {
    const outputs: string[] = [];
    for (const block of inSection(prefix)) {
      outputs.push(await shell.run(block.code, input(block), 120_000));
      ran.add(block);
    }
    return outputs;
  }
  const lastConnectLink = (outputs: string[]): string => [...outputs.join('\n').matchAll(/^Connect link:\s+(\S+)$/gm)].at(-1)?.[1] ?? '';

  beforeAll(async () => {
    // A copy of the clone as git sees it (tracked and untracked files, not the ignored ones), sharing node_modules.
    clone = mkdtempSync(path.join(os.tmpdir(), 'custody-quickstart-'));
    // As root, the embedded database runs as the OS user postgres, which must be able to enter the folder.
    chmodSync(clone, 0o755);
    const copy = spawnSync('bash', ['-c', `git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C ${JSON.stringify(clone)}`], { cwd: PACKAGE_ROOT });
    expect(copy.status).toBe(0);
    symlinkSync(path.join(PACKAGE_ROOT, 'node_modules'), path.join(clone, 'node_modules'));
    // The build is the clone's own; a fresh one is reused (npm start builds only if the sources differ from it).
    if (existsSync(path.join(PACKAGE_ROOT, 'dist'))) cpSync(path.join(PACKAGE_ROOT, 'dist'), path.join(clone, 'dist'), { recursive: true });

    port = await freePort();
    github = await startGitHubStandIn(`http://localhost:${port}/oauth/callback`);
    openai = await startOpenAiStandIn();
    const overlay = path.join(scratchDir('quickstart-providers'), 'providers.yaml');
    writeFileSync(
      overlay,
      stringify({
        github: { authorization_url: `${github.origin}/login/oauth/authorize`, token_url: `${github.origin}/login/oauth/access_token`, proxy: { base_url: github.origin } },
        openai: { proxy: { base_url: openai.origin } },
      }),
    );
    blocks = shellBlocks(readFileSync(DOCUMENT, 'utf8').replaceAll('localhost:3003', `localhost:${port}`));

    const home = scratchDir('quickstart-home');
    serverEnv = { PATH: process.env['PATH'] ?? '', HOME: home, SERVER_PORT: String(port), NANGO_PROVIDERS_FILE: overlay };
    const serverBlocks = blocks.filter((block) => block.tags.includes('server'));
    expect(serverBlocks).toHaveLength(1);
    startServer(serverBlocks[0]?.code ?? '');
    ran.add(serverBlocks[0] as DocBlock);
    shell = new ShellSession(clone, { PATH: process.env['PATH'] ?? '', HOME: home }, scratchDir('quickstart-shell'));
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    shell?.close();
    await browser?.close();
    await stopServer();
    await github?.close();
    await openai?.close();
    if (clone) rmSync(clone, { recursive: true, force: true });
  }, 90_000);

  /** Runs the first terminal's commands in their own process group: npm, node and the embedded database stop together. */
  function startServer(code: string): void {
    serverOutput = '';
    server = spawn('bash', ['-eo', 'pipefail', '-c', code], { cwd: clone, env: serverEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout?.on('data', (chunk: Buffer) => (serverOutput += chunk.toString()));
    server.stderr?.on('data', (chunk: Buffer) => (serverOutput += chunk.toString()));
  }

  async function untilHealthy(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && server?.exitCode === null) {
      if (await fetch(`http://127.0.0.1:${port}/health`).then((response) => response.ok, () => false)) return true;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    return false;
  }

  async function stopServer(): Promise<void> {
    if (!server?.pid) return;
    const running = server;
    const exited = new Promise<void>((resolve) => (running.exitCode !== null || running.signalCode !== null ? resolve() : running.once('exit', () => resolve())));
    // npm exits at once on SIGTERM; the server itself finishes its drain (readiness grace, in-flight requests,
    // the database) after it. The pid it keeps beside its data says which process that is.
    const ownerFile = path.join(clone, 'nango-data', 'server.pid');
    const owner = existsSync(ownerFile) ? Number(readFileSync(ownerFile, 'utf8').split('\n')[0]) || 0 : 0;
    signalGroup(server.pid, 'SIGTERM');
    const deadline = Date.now() + 45_000;
    const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 45_000))]);
    while (owner > 0 && isRunning(owner) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    if (!stopped || (owner > 0 && isRunning(owner))) {
      signalGroup(server.pid, 'SIGKILL');
      if (owner > 0) signal(owner, 'SIGKILL');
    }
    // A database left behind by a killed server is stopped by its own pid file.
    const pidFile = path.join(clone, 'nango-data', 'postgres', 'postmaster.pid');
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      if (pid > 0) signal(pid, 'SIGKILL');
    }
  }

  it('starts the server with npm start, its secret key in a .env only its owner can read', async () => {
    // The first start may build (in CI it does: nothing is built before the suite).
    expect(await untilHealthy(300_000), serverOutput).toBe(true);
    expect(serverOutput).toContain(`Dashboard: http://localhost:${port}/: sign in with any user name and the secret key as the password.`);
    const env = path.join(clone, '.env');
    expect(statSync(env).mode & 0o777).toBe(0o600);
    expect(readFileSync(env, 'utf8')).toMatch(/^NANGO_SECRET_KEY=[0-9a-f]{64}\nNANGO_PUBLIC_CONNECT=false\n$/);
    // The embedded default: the database lives in the clone's ./nango-data.
    expect(existsSync(path.join(clone, 'nango-data', 'postgres', 'PG_VERSION'))).toBe(true);

    const [setup] = await runSection('1.');
    expect(setup).toContain('No integrations yet.');
  }, 360_000);

  it('connects an OpenAI API key through the Connect UI', async () => {
    const outputs = await runSection('2.');
    expect(outputs[0]).toContain('Created integration "openai" (openai, API_KEY).');
    const { page, errors } = await openPage(browser, lastConnectLink(outputs));
    await page.getByRole('heading', { name: 'Connect OpenAI' }).waitFor();
    await page.getByLabel('API key', { exact: true }).fill(openai.apiKey);
    await page.getByRole('button', { name: 'Connect OpenAI' }).click();
    await page.getByRole('heading', { name: 'OpenAI is connected' }).waitFor({ timeout: 20_000 });
    await screenshot(page, 'quickstart-openai-connected');
    expect(errors).toEqual([]);
    await page.close();
  }, 180_000);

  it("connects a GitHub account through the provider's consent page, with the OAuth app registered there", async () => {
    const outputs = await runSection('3.', (block) => (block.tags.includes('paste') ? `${github.clientId}\n${github.clientSecret}\n` : ''));
    expect(outputs.join('\n')).toContain('Created integration "github" (github, OAUTH2).');
    const { page, errors } = await openPage(browser, lastConnectLink(outputs));
    await page.getByRole('heading', { name: 'Connect GitHub' }).waitFor();
    const popupOpened = page.context().waitForEvent('page');
    await page.getByRole('button', { name: 'Connect GitHub' }).click();
    const popup = await popupOpened;
    await popup.waitForEvent('close', { timeout: 30_000 });
    await page.getByRole('heading', { name: 'GitHub is connected' }).waitFor({ timeout: 30_000 });
    await screenshot(page, 'quickstart-github-connected');
    expect(errors).toEqual([]);
    expect(github.issuedTokens).toHaveLength(1);
    await page.close();
  }, 180_000);

  it('reads both tokens with curl, @nangohq/node and the CLI', async () => {
    const [list, curl, sdk, cli] = await runSection('4.');
    expect(list).toMatch(/openai/);
    expect(list).toMatch(/github/);
    expect(JSON.parse(curl ?? '')).toMatchObject({ provider_config_key: 'openai', credentials: { type: 'API_KEY', apiKey: openai.apiKey } });
    expect(sdk).toBe(`${github.issuedTokens[0]}\n`);
    expect(cli).toBe(`${openai.apiKey}\n${github.issuedTokens[0]}\n`);
  }, 180_000);

  it("calls GitHub's and OpenAI's APIs through the proxy with the connections' credentials", async () => {
    const [proxied] = await runSection('5.');
    const [user, models] = (proxied ?? '').trim().split('\n');
    expect(JSON.parse(user ?? '')).toMatchObject({ login: github.login });
    expect(JSON.parse(models ?? '')).toMatchObject({ object: 'list', data: [{ id: 'gpt-quickstart' }] });
  }, 120_000);

  it("restarts with the README's npm start without building again, keeping every integration and connection", async () => {
    // The README opens with the two commands a newcomer runs; `npm ci` is CI's first step and `npm test` its test run.
    const opening = shellBlocks(readFileSync(path.join(PACKAGE_ROOT, 'README.md'), 'utf8'))[0]?.code.split('\n').map((line) => line.replace(/#.*$/, '').trim());
    expect(opening).toEqual(['npm ci && npm start', 'npm ci && npm test']);
    expect(readFileSync(path.join(PACKAGE_ROOT, '.ci/run'), 'utf8')).toMatch(/^npm ci\n[\s\S]*^npm test\n/m);
    await stopServer();
    startServer(opening?.[0]?.replace(/^npm ci && /, '') ?? '');
    expect(await untilHealthy(120_000), serverOutput).toBe(true);
    expect(serverOutput).not.toMatch(/Building|building again/);
    const [list] = await runSection('4.');
    expect(list).toMatch(/openai/);
    expect(list).toMatch(/github/);
  }, 240_000);

  it('has run every shell block of the document, and the document has no section this spec does not know', () => {
    expect(ran.size).toBe(blocks.length);
    expect([...new Set(blocks.map((block) => block.section))]).toEqual(SECTIONS);
  });
});

/** What the reader sees at the end of a step, for a person to look at after a run. */
async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

function signalGroup(pid: number, name: NodeJS.Signals): void {
  signal(-pid, name);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}
