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
  /** What nginx wrote to its error log (upstream failures and retries are logged there). */
  errorLog(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Where the fixture's nginx sends requests: a server on 127.0.0.1 (`upstreamPort`), or the replicas a name
 * resolves to through a DNS server of the spec (test/support/dns-server.ts), as a compose network's DNS answers
 * the service name.
 */
export type NginxUpstream = number | { name: string; port: number; dnsPort: number };

/**
 * Real nginx with the repository's own nginx.conf, as docker-compose.yml mounts it: only the upstream (the
 * `server:3003` in `set $custody_upstream` → 127.0.0.1 and the server's port, or the spec's name and port),
 * the resolver (the one docker-compose.yml's command writes, here the spec's DNS server) and the listen port
 * (80 → a free loopback port) are changed, and its access log goes to a file of the fixture, so the headers the
 * server sees, the retries and the lines nginx logs are exactly what the shipped file makes them.
 */
export async function startNginx(upstream: NginxUpstream): Promise<Nginx> {
  if (!NGINX_BINARY) throw new Error('nginx is not installed (apt-get install nginx).');
  const dir = scratchDir('nginx');
  // Workers run as an unprivileged user when nginx starts as root; they must reach their temp folders.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const shipped = readFileSync(path.join(PACKAGE_ROOT, 'nginx.conf'), 'utf8');
  const accessLogPath = path.join(dir, 'access.log');
  const target = typeof upstream === 'number' ? `127.0.0.1:${upstream}` : `${upstream.name}:${upstream.port}`;
  const site = shipped
    .replace(/set \$custody_upstream server:3003;/, `set $custody_upstream ${target};`)
    .replace(/listen 80 default_server;/, `listen 127.0.0.1:${port} default_server;`)
    .replace(/access_log \/var\/log\/nginx\/access\.log /, `access_log ${accessLogPath} `);
  if (site.includes('server:3003') || !site.includes(`set $custody_upstream ${target};`) || !site.includes(`listen 127.0.0.1:${port}`) || !site.includes(accessLogPath)) {
    throw new Error('nginx.conf no longer has the "set $custody_upstream server:3003;", "listen 80 default_server;" and access_log lines this fixture adapts.');
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
    // What docker-compose.yml's nginx command writes into conf.d from the container's resolv.conf.
    ...(typeof upstream === 'number' ? [] : [`  resolver 127.0.0.1:${upstream.dnsPort} valid=2s ipv6=off;`]),
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
    errorLog: () => (existsSync(path.join(dir, 'error.log')) ? readFileSync(path.join(dir, 'error.log'), 'utf8') : ''),
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
