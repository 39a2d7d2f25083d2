import { z } from 'zod';
import { formConnect, type CredentialMode } from './credential-mode.js';
import { dashboardView, modernView } from './credential-values.js';

/** An API that needs no credentials: the connection holds only its parameters. */
const NoneStored = z.looseObject({ type: z.literal('NONE') });
export type NoCredentials = z.infer<typeof NoneStored>;

export const noneMode: CredentialMode<'NONE', NoCredentials> = {
  mode: 'NONE',
  stored: NoneStored,
  modernImport: z.object({ type: z.literal('NONE') }).strict(),
  // The frontend SDK's `create()` may send anything here; nothing of it is kept.
  form: formConnect('/auth/unauthenticated/:providerConfigKey', z.object({}).passthrough(), async () => ({ type: 'NONE' as const })),
  expiresAt: () => null,
  authorise: () => ({ kind: 'headers', headers: {} }),
  templateValues: (credentials) => ({ ...credentials }),
  show: { modern: modernView, dashboard: () => dashboardView({}) },
  integrationCredentials: () => null,
};
