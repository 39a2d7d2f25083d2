import WebSocket from 'ws';

/** The popup's WebSocket as the SDKs open it, after the server's `connection_ack`. */
export interface PopupSocket {
  /** The `ws_client_id` to pass to `/oauth/connect`. */
  id: string;
  /** The next message after the acknowledgement (a failure when none comes within 5 s). */
  next: Promise<Record<string, unknown>>;
  /** How the server closed the socket (or the connection ended: code 1006). */
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

const WAIT_MS = 5_000;

/** Opens the socket on `serverUrl` (http:// or ws://) and waits for the acknowledgement that names its client id. */
export async function openPopupSocket(serverUrl: string): Promise<PopupSocket> {
  const ws = new WebSocket(serverUrl.replace(/^http/, 'ws'));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => undefined);
  const messages: Record<string, unknown>[] = [];
  const waiters: ((message: Record<string, unknown>) => void)[] = [];
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as Record<string, unknown>;
    const waiter = waiters.shift();
    if (waiter) waiter(message);
    else messages.push(message);
  });
  const nextMessage = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const queued = messages.shift();
      if (queued) return resolve(queued);
      const timer = setTimeout(() => reject(new Error(`No WebSocket message within ${WAIT_MS / 1000} s`)), WAIT_MS);
      waiters.push((message) => {
        clearTimeout(timer);
        resolve(message);
      });
    });
  const ack = await nextMessage();
  if (ack['message_type'] !== 'connection_ack' || typeof ack['ws_client_id'] !== 'string') {
    ws.terminate();
    throw new Error(`The first WebSocket message was not a connection_ack: ${JSON.stringify(ack)}`);
  }
  const next = nextMessage();
  // Each test awaits `next`; an unawaited rejection must not leak into another test.
  next.catch(() => undefined);
  return { id: ack['ws_client_id'], next, closed, close: () => ws.terminate() };
}
