import { z } from 'zod';
import { ApiError } from '../errors.js';
import { formConnect, type CredentialMode, type ProxyAuthorisation } from './credential-mode.js';
import { dashboardView, modernView } from './credential-values.js';

/** An API key the end user types; the template's proxy headers or query place it, else it goes as a bearer token. */
const ApiKeyStored = z.looseObject({ type: z.literal('API_KEY'), apiKey: z.string() });
export type ApiKeyCredentials = z.infer<typeof ApiKeyStored>;

const ModernImport = z.object({ type: z.literal('API_KEY'), apiKey: z.string().min(1) }).strict();

export const apiKeyMode: CredentialMode<'API_KEY', ApiKeyCredentials> = {
  mode: 'API_KEY',
  stored: ApiKeyStored,
  modernImport: ModernImport,
  form: formConnect('/api-auth/api-key/:providerConfigKey', z.object({ apiKey: z.string().min(1).max(10_000) }).strict(), async (body) => ({ type: 'API_KEY' as const, apiKey: body.apiKey })),
  expiresAt: () => null,
  authorise(credentials, context): ProxyAuthorisation {
    if (context.templateCarriesAuth) return { kind: 'headers', headers: {} };
    if (credentials.apiKey === '') throw new ApiError('bad_request', `The connection "${context.connectionId}" has no API key to send.`);
    return { kind: 'headers', headers: { authorization: `Bearer ${credentials.apiKey}` } };
  },
  templateValues: (credentials) => ({ ...credentials }),
  show: { modern: modernView, dashboard: (credentials) => dashboardView({ apiKey: credentials.apiKey }) },
  integrationCredentials: () => null,
};
