import type { z } from 'zod';

/** Who may call an operation; each is a security scheme of the document (see openapi-document.ts). */
export type Caller = 'secret_key' | 'secret_key_or_session' | 'connect_session' | 'connect_access' | 'dashboard' | 'public';

/** Which error body an operation answers: the seed `{error, type, payload}`, the modern `{error: {code, message}}`, or either by client. */
export type ErrorShape = 'seed' | 'modern' | 'by_client';

export interface OperationResponse {
  description: string;
  /** The JSON body; absent: no body (or one this document does not describe). */
  schema?: z.ZodType;
  /** Another content type than JSON (an HTML page, Prometheus text, an SVG). */
  mediaType?: string;
}

/**
 * One operation of the HTTP API, described with the zod schemas its route parses (request) and answers
 * (src/openapi/wire-schemas.ts). `path` is in OpenAPI form (`/connection/{connectionId}`).
 */
export interface Operation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  tag: string;
  summary: string;
  description?: string;
  deprecated?: boolean;
  caller: Caller;
  errors: ErrorShape;
  /** Path parameters, with what each names. */
  params?: Record<string, string>;
  query?: z.ZodType;
  headers?: { name: string; description: string; required?: boolean }[];
  body?: z.ZodType;
  responses: Record<number, OperationResponse>;
  /** Error statuses this operation answers besides the ones every caller kind brings (401 for a key…). */
  errorStatuses?: number[];
}
