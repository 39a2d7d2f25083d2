import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { freePort } from './free-port.js';
import { scratchDir } from './scratch.js';

/** Debian's nginx (`apt-get install nginx`; CI's .ci/run installs it), or undefined when it is not installed. */
export const NGINX_BINARY = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((candidate) => existsSync(candidate));

export interface Nginx {
  port: number;
  baseUrl: string;
  /** What the shipped access_log line wrote (to a file of the fixture instead of /var/log/nginx). */
  accessLog(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Real nginx with the repository's own nginx.conf, as docker-compose.yml mounts it, in front of a server on
 * `upstreamPort`: only the upstream address (`server:3003` → 127.0.0.1) and the listen port (80 → a free
 * loopback port) are changed, and its access log goes to a file of the fixture, so the headers the server sees
 * and the lines nginx logs are exactly what the shipped file makes them.
 */
export async function startNginx(upstreamPort: number): Promise<Nginx> {
  if (!NGINX_BINARY) throw new Error('nginx is not installed (apt-get install nginx).');
  const dir = scratchDir('nginx');
  // Workers run as an unprivileged user when nginx starts as root; they must reach their temp folders.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const shipped = readFileSync(path.join(PACKAGE_ROOT, 'nginx.conf'), 'utf8');
  const accessLogPath = path.join(dir, 'access.log');
  const site = shipped
    .replace(/server server:3003\b/, `server 127.0.0.1:${upstreamPort}`)
    .replace(/listen 80 default_server;/, `listen 127.0.0.1:${port} default_server;`)
    .replace(/access_log \/var\/log\/nginx\/access\.log /, `access_log ${accessLogPath} `);
  if (site.includes('server:3003') || !site.includes(`listen 127.0.0.1:${port}`) || !site.includes(accessLogPath)) {
    throw new Error('nginx.conf no longer has the "server server:3003" upstream, "listen 80 default_server;" and access_log lines this fixture adapts.');
  }
  for (const temp of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, temp), { mode: 0o777 });
  const config = [
    'daemon off;',
    'worker_processes 1;',
    `pid ${path.join(dir, 'nginx.pid')};`,
    `error_log ${path.join(dir, 'error.log')} warn;`,
    'events { worker_connections 256; }',
    'http {',
    '  access_log off;',
    ...['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((temp) => `  ${temp === 'body' ? 'client_body' : temp}_temp_path ${path.join(dir, temp)};`),
    site,
    '}',
  ].join('\n');
  const configPath = path.join(dir, 'nginx.conf');
  writeFileSync(configPath, config);
  const test = spawnSync(NGINX_BINARY, ['-t', '-q', '-p', dir, '-c', configPath, '-e', path.join(dir, 'error.log')], { encoding: 'utf8' });
  if (test.status !== 0) throw new Error(`nginx refused the adapted nginx.conf: ${test.stderr}`);

  const child = spawn(NGINX_BINARY, ['-p', dir, '-c', configPath, '-e', path.join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not start: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    accessLog: () => (existsSync(accessLogPath) ? readFileSync(accessLogPath, 'utf8') : ''),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGTERM is nginx's fast shutdown.
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface Answer {
  status: number;
  body: string;
}

/** One GET from a chosen loopback source address (127.0.0.2, 127.0.0.3 …), as a client on another host would be seen. */
export function getFrom(localAddress: string, url: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { localAddress, headers, agent: false, timeout: 10_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('timeout', () => request.destroy(new Error(`No answer from ${url} within 10 s`)));
    request.on('error', reject);
  });
}
