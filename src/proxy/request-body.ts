import { Readable } from 'node:stream';

/**
 * The body sent upstream. A buffered body can be sent again (retries, redirects); a streamed one goes once,
 * byte for byte, never held in memory whole.
 */
export type UpstreamBody =
  | { kind: 'none' }
  | { kind: 'buffer'; data: Buffer }
  | { kind: 'stream'; stream: Readable; length: number | undefined };

export type BufferedPrefix = { complete: true; data: Buffer } | { complete: false; stream: Readable };

/**
 * Reads a stream until it ends or holds more than `limit` bytes. A body within the limit comes back whole;
 * a larger one comes back as a stream that replays what was read and then carries on with the rest.
 */
export function bufferUpTo(source: Readable, limit: number): Promise<BufferedPrefix> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      source.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) {
        cleanup();
        source.pause();
        resolve({ complete: false, stream: concatenate(chunks, source) });
      }
    };
    const onEnd = (): void => {
      cleanup();
      resolve({ complete: true, data: Buffer.concat(chunks, size) });
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onClose = (): void => onError(new Error('The stream closed before its end.'));
    source.on('data', onData);
    source.once('end', onEnd);
    source.once('error', onError);
    source.once('close', onClose);
  });
}

/**
 * Reads a whole stream; undefined when it exceeds `limit` bytes (the rest is then read and discarded, so the
 * client's connection stays usable for the error answer).
 */
export async function readAll(source: Readable, limit: number): Promise<Buffer | undefined> {
  const prefix = await bufferUpTo(source, limit);
  if (prefix.complete) return prefix.data;
  prefix.stream.resume();
  return undefined;
}

function concatenate(head: Buffer[], rest: Readable): Readable {
  return Readable.from(
    (async function* chunks() {
      yield* head;
      for await (const chunk of rest) yield chunk as Buffer;
    })(),
    { objectMode: false },
  );
}
