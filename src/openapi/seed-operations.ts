import { z } from 'zod';
import { ConfigBody } from '../routes/seed/config-routes.js';
import { DeleteQuery, GetQuery, ImportBody, ListQuery } from '../routes/seed/connection-routes.js';
import type { Operation } from './operation.js';
import { SeedConfigBody, SeedConnectionBody, SeedConnectionListItem, SuccessAnswer } from './wire-schemas.js';

const seed = { tag: 'Seed API (v0.16)', caller: 'secret_key', errors: 'seed' } as const;
const configKey = { providerConfigKey: 'The integration\'s key (provider_config_key).' };
const connectionId = { connectionId: 'The connection id your application chose.' };

/** Nango v0.16's `/config` and `/connection`, which seed clients call (the import arrived with v0.20). */
export const SEED_OPERATIONS: Operation[] = [
  {
    ...seed,
    method: 'get',
    path: '/config',
    summary: 'List integrations (seed)',
    description: 'Every integration as its stored row, client secret in clear.',
    responses: { 200: { description: 'The integrations.', schema: z.object({ configs: z.array(SeedConfigBody) }) } },
  },
  {
    ...seed,
    method: 'get',
    path: '/config/{providerConfigKey}',
    params: configKey,
    summary: 'Get an integration (seed)',
    responses: { 200: { description: 'The integration.', schema: z.object({ config: SeedConfigBody }) } },
    errorStatuses: [400],
  },
  {
    ...seed,
    method: 'post',
    path: '/config',
    summary: 'Create an integration (seed)',
    body: ConfigBody,
    responses: { 200: { description: 'Created; the row\'s id.', schema: z.object({ config_id: z.number().int() }).strict() } },
    errorStatuses: [400],
  },
  {
    ...seed,
    method: 'put',
    path: '/config',
    summary: 'Replace an integration\'s OAuth app (seed)',
    body: ConfigBody,
    responses: { 200: { description: 'Updated (empty body).' } },
    errorStatuses: [400],
  },
  {
    ...seed,
    method: 'delete',
    path: '/config/{providerConfigKey}',
    params: configKey,
    summary: 'Delete an integration and its connections (seed)',
    responses: { 200: { description: 'Deleted (empty body).' } },
    errorStatuses: [400],
  },
  {
    ...seed,
    method: 'get',
    path: '/connection/{connectionId}',
    params: connectionId,
    query: GetQuery,
    summary: 'Get a connection with its credentials (deprecated path)',
    description:
      'The credentials as stored (refreshed first when due), every field a seed client reads, and the fields modern Nango answers here. ' +
      'Refresh tokens are included unless `refresh_token=false` (or NANGO_SEED_REFRESH_TOKENS=false and no `refresh_token=true`).',
    deprecated: true,
    responses: { 200: { description: 'The connection.', schema: SeedConnectionBody } },
    errorStatuses: [400],
  },
  {
    ...seed,
    method: 'get',
    path: '/connection',
    query: ListQuery,
    summary: 'List connections without credentials (deprecated path)',
    description: '`provider` keeps its seed meaning, the integration\'s key; `provider_config_key` carries the same under its modern name.',
    deprecated: true,
    responses: { 200: { description: 'The connections, oldest first.', schema: z.object({ connections: z.array(SeedConnectionListItem) }).strict() } },
    errorStatuses: [400],
  },
  {
    ...seed,
    method: 'delete',
    path: '/connection/{connectionId}',
    params: connectionId,
    query: DeleteQuery,
    summary: 'Delete a connection (deprecated path)',
    deprecated: true,
    responses: { 200: { description: 'Deleted.', schema: SuccessAnswer } },
    errorStatuses: [400],
  },
  {
    ...seed,
    method: 'post',
    path: '/connection',
    summary: 'Import a connection with tokens obtained elsewhere (deprecated path)',
    description: 'OAuth 2 tokens or an OAuth 1.0a token pair. Without `type`, the credentials are of the kind the integration\'s provider issues.',
    deprecated: true,
    body: ImportBody,
    responses: { 201: { description: 'Imported; the request body echoed.', schema: z.record(z.string(), z.unknown()) } },
    errorStatuses: [400],
  },
];
