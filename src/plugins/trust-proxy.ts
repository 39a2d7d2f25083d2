import type { Config } from '../config.js';

/** Fastify's types take no hop count, so a count becomes the check proxy-addr would make for it. */
export function trustProxyOption(setting: Config['trustProxy']): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof setting === 'number' ? (_address, hop) => hop < setting : setting;
}

/**
 * `true` believes every hop of X-Forwarded-For, so the client address is the left-most entry, which the client
 * itself wrote: with a proxy that appends (nginx's $proxy_add_x_forwarded_for, most load balancers) anyone can
 * pose as any address. Said at start, with the settings that cannot be forged.
 */
export function trustProxyWarning(setting: Config['trustProxy']): string | undefined {
  if (setting !== true) return undefined;
  return (
    'NANGO_TRUST_PROXY=true believes every address in X-Forwarded-For, so a client can pose as any address (to the auth-failure limit and the logs) ' +
    'unless the proxy in front overwrites that header. Set NANGO_TRUST_PROXY to the number of proxies in front of the server (1 behind the compose nginx) ' +
    'or to their addresses instead; see docs/security.md.'
  );
}
