/**
 * What Nango's published API specification says of the operations this server shares with it: the status of a
 * success, and the fields (with their JSON types) its answer must carry. Written here from the specification's
 * facts, field by field, as JSON schemas of our own; the specification itself is not part of this project.
 * `additionalProperties` is left open: the published answers may carry fields the specification does not list.
 */
type Schema = Record<string, unknown>;

const string = { type: 'string' };
const integer = { type: 'integer' };
const object = { type: 'object' };
const nullableObject = { type: ['object', 'null'] };
const connectionError = { type: 'object', required: ['type', 'log_id'], properties: { type: { enum: ['auth', 'sync'] }, log_id: string } };
const endUser = { anyOf: [{ type: 'object', required: ['id'], properties: { id: string } }, { type: 'null' }] };

const integration = {
  type: 'object',
  required: ['unique_key', 'display_name', 'provider', 'created_at', 'updated_at'],
  properties: { unique_key: string, display_name: string, provider: string, logo: string, created_at: string, updated_at: string },
};
const provider = { type: 'object', required: ['name', 'display_name', 'auth_mode', 'docs'], properties: { name: string, display_name: string, auth_mode: string, docs: string } };
const connectionListItem = {
  type: 'object',
  required: ['id', 'connection_id', 'provider', 'provider_config_key', 'created', 'metadata', 'errors', 'end_user'],
  properties: { id: integer, connection_id: string, provider: string, provider_config_key: string, created: string, metadata: object, errors: { type: 'array', items: connectionError }, end_user: endUser },
};
const connectionFull = {
  type: 'object',
  required: ['id', 'connection_id', 'provider_config_key', 'provider', 'errors', 'end_user', 'metadata', 'connection_config', 'created_at', 'updated_at', 'last_fetched_at', 'credentials'],
  properties: {
    id: integer,
    connection_id: string,
    provider_config_key: string,
    provider: string,
    errors: { type: 'array', items: connectionError },
    end_user: endUser,
    metadata: object,
    connection_config: object,
    created_at: string,
    updated_at: string,
    last_fetched_at: string,
    credentials: object,
  },
};
const metadataAnswer = {
  type: 'object',
  properties: { connection_id: { anyOf: [string, { type: 'array', items: string }] }, provider_config_key: string, metadata: object },
};
const success = { type: 'object', properties: { success: { type: 'boolean' } } };
const connectSession = { type: 'object', required: ['data'], properties: { data: { type: 'object', required: ['token', 'expires_at'], properties: { token: string, connect_link: string, expires_at: string } } } };

/** Nango's `StdError`: the modern error body, nothing but `code`, `message` and `errors` under `error`. */
export const PUBLISHED_ERROR: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: { error: { type: 'object', additionalProperties: false, required: ['code'], properties: { code: string, message: string, errors: { type: 'array', items: object } } } },
};

export interface PublishedOperation {
  /** The success status the specification gives. */
  status: number;
  schema?: Schema;
}

/** Keyed `METHOD /path` in OpenAPI form. */
export const PUBLISHED_OPERATIONS: Record<string, PublishedOperation> = {
  'GET /providers': { status: 200, schema: { type: 'object', required: ['data'], properties: { data: { type: 'array', items: provider } } } },
  'GET /providers/{provider}': { status: 200, schema: { type: 'object', required: ['data'], properties: { data: provider } } },
  'GET /integrations': { status: 200, schema: { type: 'object', required: ['data'], properties: { data: { type: 'array', items: integration } } } },
  // The specification types `data` as a list here; Nango's server and @nangohq/types answer the one integration created.
  'POST /integrations': { status: 200, schema: { type: 'object', required: ['data'] } },
  'GET /integrations/{uniqueKey}': { status: 200, schema: { type: 'object', required: ['data'], properties: { data: { ...integration, properties: { ...integration.properties, webhook_url: { type: ['string', 'null'] }, credentials: nullableObject } } } } },
  'PATCH /integrations/{uniqueKey}': { status: 200, schema: { type: 'object', required: ['data'], properties: { data: integration } } },
  'DELETE /integrations/{uniqueKey}': { status: 200, schema: { type: 'object', required: ['success'], properties: { success: { type: 'boolean' } } } },
  'GET /connection': { status: 200, schema: { type: 'object', properties: { connections: { type: 'array', items: connectionListItem } } } },
  'GET /connection/{connectionId}': { status: 200, schema: connectionFull },
  'DELETE /connection/{connectionId}': { status: 200, schema: success },
  'POST /connection/metadata': { status: 201, schema: metadataAnswer },
  'PATCH /connection/metadata': { status: 200, schema: metadataAnswer },
  'POST /connection/{connectionId}/metadata': { status: 201 },
  'PATCH /connection/{connectionId}/metadata': { status: 200, schema: object },
  'GET /connections': { status: 200, schema: { type: 'object', properties: { connections: { type: 'array', items: connectionListItem } } } },
  'GET /connections/{connectionId}': { status: 200, schema: connectionFull },
  'PATCH /connections/{connectionId}': { status: 200, schema: success },
  'DELETE /connections/{connectionId}': { status: 200, schema: success },
  'POST /connections/metadata': { status: 201, schema: metadataAnswer },
  'PATCH /connections/metadata': { status: 200, schema: metadataAnswer },
  'POST /connect/sessions': { status: 201, schema: connectSession },
  'POST /connect/sessions/reconnect': { status: 201, schema: connectSession },
  // The specification names ConnectSession here too; Nango's server answers the session's settings, which the Connect UI reads.
  'GET /connect/session': { status: 200, schema: { type: 'object', required: ['data'] } },
  'DELETE /connect/session': { status: 204 },
};
