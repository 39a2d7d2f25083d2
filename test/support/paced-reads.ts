/** What a paced read load saw once stopped: how many reads were answered, and each that was not a 200. */
export interface PacedReadsResult {
  answered: number;
  failures: string[];
}

/**
 * One GET every `intervalMs`, taking the URLs in turn, without waiting for earlier answers (as clients do while
 * a server restarts or migrates). A read that fails or takes over 15 s is recorded with its time and URL.
 */
export function pacedReads(urls: string[], headers: Record<string, string>, intervalMs: number): { stop(): Promise<PacedReadsResult> } {
  const failures: string[] = [];
  const pending = new Set<Promise<void>>();
  let answered = 0;
  let turn = 0;
  const failed = (url: string, what: string) => void failures.push(`${new Date().toISOString()} ${url} → ${what}`);
  const timer = setInterval(() => {
    const url = urls[turn++ % urls.length] as string;
    const read = fetch(url, { headers, signal: AbortSignal.timeout(15_000) })
      .then(async (response) => {
        const body = await response.text();
        answered++;
        if (response.status !== 200) failed(url, `${response.status} ${body.slice(0, 200)}`);
      })
      .catch((error: unknown) => failed(url, `${(error as Error).message} ${String((error as { cause?: unknown }).cause ?? '')}`));
    pending.add(read);
    void read.finally(() => pending.delete(read));
  }, intervalMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await Promise.all([...pending]);
      return { answered, failures };
    },
  };
}
