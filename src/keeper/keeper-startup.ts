import type { Knex } from 'knex';
import type { Registry } from 'prom-client';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { TokenRefresher } from '../services/token-refresher.js';
import type { ConfigsStore } from '../store/configs-store.js';
import { RefreshClaimsStore } from '../store/refresh-claims-store.js';
import { KeeperMetrics } from './keeper-metrics.js';
import { TokenKeeper } from './token-keeper.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The process's token keeper; specs run a sweep on their own clock with `tokenKeeper.sweep()`. */
    tokenKeeper: TokenKeeper;
  }
}

/** Pool connections the keeper leaves to requests, whatever NANGO_REFRESH_CONCURRENCY says. */
const CONNECTIONS_KEPT_FOR_REQUESTS = 2;

interface KeeperParts {
  config: Config;
  knex: Knex;
  configs: Pick<ConfigsStore, 'find'>;
  refresher: Pick<TokenRefresher, 'refreshClaimed'>;
  registry: Registry;
  logger: Logger;
  providerTimeoutMs: number;
  now: () => Date;
}

/**
 * The token keeper of this process: every process runs one, so there is no worker to deploy. The composition
 * root starts it when the app is ready and stops it (its refreshes under way finished) when the app closes.
 */
export function buildTokenKeeper(parts: KeeperParts): TokenKeeper {
  const settings = parts.config.keeper;
  const claims = new RefreshClaimsStore(parts.knex);
  // Each refresh holds a pool connection while its provider answers (the lock that makes it exactly-once).
  const poolMax = parts.config.database.poolMax;
  const concurrency = Math.min(settings.concurrency, Math.max(1, poolMax - CONNECTIONS_KEPT_FOR_REQUESTS));
  return new TokenKeeper({
    settings,
    claims,
    configs: parts.configs,
    refresher: parts.refresher,
    observer: new KeeperMetrics(parts.registry, () => claims.healthCounts(parts.now())),
    log: parts.logger,
    concurrency,
    poolMax,
    providerTimeoutMs: parts.providerTimeoutMs,
    now: parts.now,
  });
}
