import { z } from 'zod';
import { formConnect, type CredentialMode, type ProxyAuthorisation } from './credential-mode.js';
import { dashboardView, modernView } from './credential-values.js';

/** A user name and password the end user types; sent as HTTP Basic unless the template's proxy headers place them. */
const BasicStored = z.looseObject({ type: z.literal('BASIC'), username: z.string(), password: z.string().optional() });
export type BasicCredentials = z.infer<typeof BasicStored>;

const ModernImport = z.object({ type: z.literal('BASIC'), username: z.string().min(1), password: z.string() }).strict();

const ConnectBody = z.object({ username: z.string().min(1).max(1000), password: z.string().max(10_000).default('') }).strict();

export const basicMode: CredentialMode<'BASIC', BasicCredentials> = {
  mode: 'BASIC',
  stored: BasicStored,
  modernImport: ModernImport,
  form: formConnect('/api-auth/basic/:providerConfigKey', ConnectBody, async (body) => ({ type: 'BASIC' as const, username: body.username, password: body.password })),
  expiresAt: () => null,
  authorise(credentials, context): ProxyAuthorisation {
    if (context.templateCarriesAuth) return { kind: 'headers', headers: {} };
    const pair = `${credentials.username}:${credentials.password ?? ''}`;
    return { kind: 'headers', headers: { authorization: `Basic ${Buffer.from(pair, 'utf8').toString('base64')}` } };
  },
  templateValues: (credentials) => ({ ...credentials }),
  show: { modern: modernView, dashboard: (credentials) => dashboardView({ username: credentials.username, password: credentials.password ?? null }) },
  integrationCredentials: () => null,
};
