// 57014: a statement cancelled by the statement timeout (NANGO_DB_STATEMENT_TIMEOUT_MS); ETIMEDOUT is also the
// client-side query deadline's (src/db/query-timeouts.ts).
const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', '57014', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006']);

/** Whether an error means the database cannot be reached or did not answer in time (503, a start-up retry), rather than a fault of the request. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const candidate = error as { name?: string; code?: string; message?: string };
  if (candidate?.name === 'KnexTimeoutError') return true;
  if (candidate?.code && CONNECTION_ERROR_CODES.has(candidate.code)) return true;
  // "timeout expired": a pg.Client's own connectionTimeoutMillis (no code), e.g. a container network's name
  // lookup hanging at start; without it the start-up retry gave up at once with "Cannot start: timeout expired".
  return /Connection terminated|Client has encountered a connection error|connection is closed|^timeout expired$/i.test(candidate?.message ?? '');
}
