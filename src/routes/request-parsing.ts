import { z } from 'zod';
import { ApiError, type ErrorCode } from '../errors.js';

/** Parses a part of the request with its zod schema; a failure is a 4xx whose message names the field. */
export function parseRequestPart<Schema extends z.ZodType>(schema: Schema, value: unknown, code: ErrorCode): z.infer<Schema> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  // Parsed again to describe the failure: with reportInput (zod 4 leaves an issue's input out otherwise, and "is
  // required" must not be said of a wrong type), which makes a parse an order of magnitude slower, so valid
  // requests, nearly all of them, do without it.
  const described = schema.safeParse(value, { reportInput: true });
  const error = described.success ? result.error : described.error;
  throw new ApiError(code, describeZodError(error, PARTS[code]), { errors: issuesOf(error) });
}

/** What a part of the request is called in a message about the part as a whole (a list sent as the body). */
const PARTS: Partial<Record<ErrorCode, string>> = { invalid_body: 'the request body', invalid_query_params: 'the query string', invalid_uri_params: 'the URL path' };

export function describeZodError(error: z.ZodError, part?: string): string {
  return error.issues.slice(0, 3).map((issue) => describeIssue(issue, part)).join('; ');
}

function describeIssue(issue: z.core.$ZodIssue, part?: string): string {
  // A whole part of the wrong kind (`[…]` where an object belongs) names the part, not zod's "record".
  if (part && issue.path.length === 0 && issue.code === 'invalid_type' && (issue.expected === 'object' || issue.expected === 'record')) {
    return `${part} must be a JSON object, not ${kindOf(issue.input)}`;
  }
  const field = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const where = field ? ` in ${field}` : '';
    return `unknown parameter${issue.keys.length > 1 ? 's' : ''}${where}: ${issue.keys.slice(0, 5).map(shorten).join(', ')}${issue.keys.length > 5 ? ', …' : ''}`;
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return `${field || 'value'} is required`;
  return field ? `${field}: ${issue.message}` : issue.message;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value === undefined) return 'nothing';
  return `a ${typeof value}`;
}

/** Names echoed back in errors are cut short: a client must not get its 100 kB query string back. */
function shorten(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

export function issuesOf(error: z.ZodError): { code: string; message: string; path: (string | number)[] }[] {
  return error.issues.map((issue) => ({ code: issue.code, message: describeIssue(issue), path: issue.path.map((part) => (typeof part === 'symbol' ? String(part) : part)) }));
}

/** A path segment or query value that names a stored thing: non-empty, bounded, no control characters. */
export const identifier = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');

/** A URL this server will POST webhooks to: http or https only, so `javascript:` or `file:` is never stored as one. */
export const webhookUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
  .max(2048, 'must be at most 2048 characters');

/** Query flags arrive as text; only "true" and "false" mean something. */
export const booleanFlag = z.enum(['true', 'false'], { error: 'must be "true" or "false"' }).transform((value) => value === 'true');

/** True for a plain JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
