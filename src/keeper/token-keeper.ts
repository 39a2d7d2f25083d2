import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.js';
import type { KeeperRefreshResult, TokenRefresher } from '../services/token-refresher.js';
import type { ConfigsStore } from '../store/configs-store.js';
import type { ClaimedConnection, RefreshClaimsStore } from '../store/refresh-claims-store.js';
import type { KeeperSettings } from './keeper-settings.js';

/** How far ahead of its due time a connection may be refreshed: a third of the fifteen-minute refresh margin. */
const MAX_LOOKAHEAD_MS = 5 * 60 * 1000;

/** What the keeper reports as it works (metrics). */
export interface KeeperObserver {
  sweepStarted(due: number, lagSeconds: number): void;
  refreshFinished(result: KeeperRefreshResult | 'error'): void;
}

interface TokenKeeperDeps {
  settings: KeeperSettings;
  claims: RefreshClaimsStore;
  configs: Pick<ConfigsStore, 'find'>;
  refresher: Pick<TokenRefresher, 'refreshClaimed'>;
  observer: KeeperObserver;
  log: Logger;
  /** Refreshes at once in this process: the setting, bounded by what the pool can spare beside requests. */
  concurrency: number;
  /** NANGO_DB_POOL_MAX, named when the concurrency is lower than the setting. */
  poolMax: number;
  /** How long a provider may take to answer a refresh: a claim outlives it. */
  providerTimeoutMs: number;
  now: () => Date;
}

/**
 * The token keeper: every sweep interval it claims the connections that fall due before the next sweep, earliest
 * first, in small batches, and refreshes them through the token refresher (the lock reads take too, so a
 * rotating refresh token is spent once however many processes sweep). Starts are spread over the interval (10,000
 * tokens due at once go out at an even pace, not in a burst) and at most `concurrency` run at once.
 */
export class TokenKeeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly deps: TokenKeeperDeps) {}

  /** Starts sweeping: the first sweep comes after a random part of the interval, so processes started together take turns. */
  start(): void {
    const { settings, log, concurrency, poolMax } = this.deps;
    if (settings.sweepMs <= 0) {
      log.info('The token keeper is off (NANGO_REFRESH_SWEEP_SECONDS=0): tokens are refreshed only when they are read.');
      return;
    }
    if (concurrency < settings.concurrency) {
      log.info(`The token keeper runs ${concurrency} refreshes at once, not ${settings.concurrency} (NANGO_REFRESH_CONCURRENCY): each holds a database connection, and the pool (NANGO_DB_POOL_MAX=${poolMax}) keeps the rest for requests. Raise NANGO_DB_POOL_MAX to run more.`);
    }
    const { sweepMs } = settings;
    this.stopped = false;
    this.schedule(Math.round(sweepMs * (0.25 + Math.random() * 0.75)));
  }

  /** Stops sweeping and waits for the refreshes under way (each bounded by the provider timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /**
   * One sweep, now; resolves when every connection it claimed has been refreshed (or has failed). `spreadOverMs`:
   * the time over which starts are spread (default the sweep interval; 0 starts them as fast as concurrency allows).
   */
  async sweep(options: { spreadOverMs?: number } = {}): Promise<void> {
    const run = this.sweepOnce(options.spreadOverMs ?? this.deps.settings.sweepMs);
    this.running = run.catch(() => undefined);
    return run;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      const startedAt = Date.now();
      void this.sweep()
        .catch((error: unknown) => this.deps.log.warn({ err: error }, 'A token keeper sweep stopped early; the next sweep picks up what it left.'))
        .finally(() => {
          if (!this.stopped) this.schedule(Math.max(0, this.deps.settings.sweepMs - (Date.now() - startedAt)));
        });
    }, delayMs);
    this.timer.unref();
  }

  private async sweepOnce(spreadOverMs: number): Promise<void> {
    const { sweepMs } = this.deps.settings;
    const startedAt = this.deps.now();
    // What falls due shortly is taken now: waiting for the next sweep would leave it late by up to a sweep. Not
    // further ahead than that, so a token living about as long as the interval is not refreshed at every sweep.
    const horizon = new Date(startedAt.getTime() + Math.min(Math.max(sweepMs, 0), MAX_LOOKAHEAD_MS));
    const { due, earliest } = await this.deps.claims.dueBy(horizon);
    this.deps.observer.sweepStarted(due, earliest ? Math.max(0, (startedAt.getTime() - earliest.getTime()) / 1000) : 0);
    if (due === 0) return;
    const spacingMs = spreadOverMs > 0 ? spreadOverMs / due : 0;
    const began = performance.now();
    const inFlight = new Set<Promise<void>>();
    let started = 0;
    while (!this.stopped) {
      const byPace = spacingMs > 0 ? Math.floor((performance.now() - began) / spacingMs) + 1 - started : Infinity;
      const wanted = Math.min(byPace, this.deps.concurrency - inFlight.size);
      if (wanted <= 0) {
        const nextSlot = spacingMs > 0 ? Math.max(1, began + (started * spacingMs) - performance.now()) : 1_000;
        await Promise.race([sleep(nextSlot), ...inFlight]);
        continue;
      }
      const claimedUntil = new Date(this.deps.now().getTime() + sweepMs + 2 * this.deps.providerTimeoutMs + 60_000);
      const claims = await this.deps.claims.claim(horizon, claimedUntil, wanted);
      for (const claim of claims) {
        const refresh = this.refresh(claim).finally(() => inFlight.delete(refresh));
        inFlight.add(refresh);
      }
      started += claims.length;
      if (claims.length < wanted) break;
    }
    await Promise.all(inFlight);
  }

  private async refresh(claim: ClaimedConnection): Promise<void> {
    try {
      const config = await this.deps.configs.find(claim.providerConfigKey);
      this.deps.observer.refreshFinished(await this.deps.refresher.refreshClaimed(claim, config));
    } catch (error) {
      // A database error: the claim lapses and a later sweep tries again.
      this.deps.observer.refreshFinished('error');
      this.deps.log.warn({ err: error, integration: claim.providerConfigKey, connectionId: claim.connectionId }, 'The token keeper could not refresh a connection; a later sweep tries again.');
    }
  }
}
