import { z } from 'zod';
import { FLOW_OPERATIONS } from './flow-operations.js';
import { MODERN_OPERATIONS } from './modern-operations.js';
import type { Caller, ErrorShape, Operation } from './operation.js';
import { SEED_OPERATIONS } from './seed-operations.js';
import { ModernErrorBody, SeedErrorBody } from './wire-schemas.js';

/** Every operation the document describes. */
export const OPERATIONS: Operation[] = [...MODERN_OPERATIONS, ...SEED_OPERATIONS, ...FLOW_OPERATIONS];

type JsonSchema = Record<string, unknown>;

/** Who may call, as the document's security requirements (an empty one: anyone). */
const SECURITY: Record<Caller, Record<string, string[]>[]> = {
  secret_key: [{ secretKey: [] }, { secretKeyBasic: [] }],
  secret_key_or_session: [{ secretKey: [] }, { secretKeyBasic: [] }, { connectSession: [] }],
  connect_session: [{ connectSession: [] }],
  connect_access: [{}],
  dashboard: [{ dashboardLogin: [] }],
  public: [{}],
};

const DESCRIPTION = [
  'Custody\'s HTTP API: the modern API that `@nangohq/node` and `@nangohq/frontend` 0.71 call, the seed API of Nango v0.16 (`/config`, `/connection`), the popup flow, the proxy, and operations.',
  '',
  '**Authentication.** With `NANGO_SECRET_KEY` set, the APIs take it as `Authorization: Bearer <key>` or, as seed clients send it, `Basic base64(<key>:)`. Without a secret key the server is open to anyone who can reach it (a developer\'s machine). End users\' browsers use a connect session token instead.',
  '',
  '**Errors.** The modern API answers `{"error": {"code", "message"}}`; the seed API `{"error", "type", "payload"}`; the proxy the shape of the client that called it.',
  '',
  '**Not implemented.** Nango\'s syncs, actions, records and functions (`/sync/*`, `/action/*`, `/records`, `/scripts/config`, `/flow/*`…) answer `501 not_supported`.',
].join('\n');

/** The OpenAPI 3.1 document of the server, built from the routes' zod schemas. No value in it is a secret. */
export function buildOpenApiDocument(options: { serverUrl: string; version: string }): JsonSchema {
  const components: Record<string, JsonSchema> = {};
  const toSchema = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => hoist(z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema, components);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of OPERATIONS) {
    (paths[operation.path] ??= {})[operation.method] = describeOperation(operation, toSchema);
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Custody API', version: options.version, description: DESCRIPTION, license: { name: 'Apache-2.0', identifier: 'Apache-2.0' } },
    servers: [{ url: options.serverUrl }],
    tags: [...new Set(OPERATIONS.map((operation) => operation.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        secretKey: { type: 'http', scheme: 'bearer', description: 'NANGO_SECRET_KEY.' },
        secretKeyBasic: { type: 'http', scheme: 'basic', description: 'NANGO_SECRET_KEY as the user name, empty password (seed clients).' },
        connectSession: { type: 'http', scheme: 'bearer', description: 'A connect session token (POST /connect/sessions), in end users\' browsers.' },
        dashboardLogin: { type: 'http', scheme: 'basic', description: 'The dashboard\'s sign-in: NANGO_DASHBOARD_USERNAME/PASSWORD, or the secret key; open when neither is set.' },
      },
    },
  };
}

function describeOperation(operation: Operation, toSchema: (schema: z.ZodType, io: 'input' | 'output') => JsonSchema): JsonSchema {
  const parameters = [
    ...Object.entries(operation.params ?? {}).map(([name, description]) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } })),
    ...queryParameters(operation.query ? toSchema(operation.query, 'input') : undefined),
    ...(operation.headers ?? []).map((header) => ({ name: header.name, in: 'header', required: header.required ?? false, description: header.description, schema: { type: 'string' } })),
  ];
  const responses: Record<string, unknown> = {};
  for (const [status, response] of Object.entries(operation.responses)) {
    const content = response.schema ? { 'application/json': { schema: toSchema(response.schema, 'output') } } : response.mediaType ? { [response.mediaType]: {} } : undefined;
    responses[status] = { description: response.description, ...(content ? { content } : {}) };
  }
  for (const status of errorStatuses(operation)) {
    if (responses[status]) continue;
    responses[status] = { description: ERROR_DESCRIPTIONS[status] ?? 'An error.', content: { 'application/json': { schema: errorSchema(operation.errors, toSchema) } } };
  }
  return {
    tags: [operation.tag],
    summary: operation.summary,
    ...(operation.description ? { description: operation.description } : {}),
    operationId: `${operation.method}${operation.path.replace(/[{}]/g, '').replace(/[^a-zA-Z0-9]+(.)?/g, (_m, next: string | undefined) => (next ?? '').toUpperCase())}`,
    ...(operation.deprecated ? { deprecated: true } : {}),
    security: SECURITY[operation.caller],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(operation.body ? { requestBody: { required: true, content: { 'application/json': { schema: toSchema(operation.body, 'input') } } } } : {}),
    responses,
  };
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'The request is not valid; the message names the field or parameter.',
  401: 'No credentials, or wrong ones.',
  404: 'Nothing by that key or id.',
  424: 'The token could not be refreshed (the provider refused).',
  502: 'The provider could not be reached or answered badly.',
  503: 'The database does not answer.',
};

function errorStatuses(operation: Operation): number[] {
  // Every route refuses what it cannot read (an unknown query parameter among them) with a 400.
  const byCaller = operation.caller === 'public' ? [] : operation.caller === 'connect_access' ? [400] : [400, 401];
  return [...new Set([...(operation.errorStatuses ?? []), ...byCaller])].sort();
}

function errorSchema(shape: ErrorShape, toSchema: (schema: z.ZodType, io: 'input' | 'output') => JsonSchema): JsonSchema {
  if (shape === 'seed') return toSchema(SeedErrorBody, 'output');
  if (shape === 'modern') return toSchema(ModernErrorBody, 'output');
  return { anyOf: [toSchema(SeedErrorBody, 'output'), toSchema(ModernErrorBody, 'output')] };
}

/** A query object's properties as OpenAPI query parameters. */
function queryParameters(schema: JsonSchema | undefined): JsonSchema[] {
  const properties = (schema?.['properties'] ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema?.['required'] ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return { name, in: 'query', required: required.has(name), ...(typeof description === 'string' ? { description } : {}), schema: rest };
  });
}

/** Moves zod's `$defs` (schemas given an id) into the document's components, and points the references there. */
function hoist(schema: JsonSchema, components: Record<string, JsonSchema>): JsonSchema {
  const { $schema: _dialect, $defs, ...rest } = schema as JsonSchema & { $defs?: Record<string, JsonSchema> };
  const retarget = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(retarget);
    if (typeof value !== 'object' || value === null) return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, child]) => [key, key === '$ref' && typeof child === 'string' ? child.replace('#/$defs/', '#/components/schemas/') : retarget(child)]),
    );
  };
  for (const [id, definition] of Object.entries($defs ?? {})) components[id] = retarget(definition) as JsonSchema;
  return retarget(rest) as JsonSchema;
}
