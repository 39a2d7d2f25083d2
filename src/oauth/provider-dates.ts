import diagnosticsChannel from 'node:diagnostics_channel';

/**
 * Every answer of a provider's token endpoint carries its clock (the `Date` header, RFC 9110 §6.6.1). The token
 * endpoint client publishes it here, with how long the exchange took; the clock-drift watch (src/custody/
 * clock-drift.ts) of each app subscribes. A channel rather than a dependency passed down: the token client is
 * called from several services, and publishing to no subscriber costs nothing.
 */
export interface ProviderDate {
  /** The host that answered, for the operator's log line. */
  host: string;
  /** The `Date` header as sent. */
  date: string;
  /** Milliseconds from sending the request to the end of the answer. */
  elapsedMs: number;
}

export const PROVIDER_DATES = diagnosticsChannel.channel('custody:provider-date');

export function publishProviderDate(url: URL, date: string | undefined, elapsedMs: number): void {
  if (date === undefined || !PROVIDER_DATES.hasSubscribers) return;
  PROVIDER_DATES.publish({ host: url.host, date, elapsedMs } satisfies ProviderDate);
}
