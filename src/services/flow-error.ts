/**
 * A connection flow that cannot go on (popup OAuth, or a non-popup credential connect). `type` is what the
 * frontend SDKs receive as the error type; `status` is the HTTP status of the page or answer.
 */
export class FlowError extends Error {
  override name = 'FlowError';

  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}
