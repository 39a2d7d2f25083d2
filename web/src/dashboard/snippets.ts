import { connectsInPopup } from '../shared/auth-modes';
import { authCall, type FormField } from '../shared/provider-form';

/** What the integration page's code snippets are written for. */
export interface SnippetTarget {
  /** The integration's unique key (`provider_config_key`). */
  integration: string;
  authMode: string;
  /** What an end user gives when connecting (formFields): connection parameters and credentials. */
  fields: FormField[];
  serverUrl: string;
  connectUrl: string;
}

export interface Snippet {
  id: 'connect-ui' | 'auth' | 'node' | 'curl';
  label: string;
  language: 'javascript' | 'shell';
  code: string;
}

/** The environment variable the backend snippets read the secret key from: the key itself is never shown. */
export const SECRET_KEY_VARIABLE = 'NANGO_SECRET_KEY';

/** Placeholders a developer replaces; each is written the same way in every snippet. */
export const PLACEHOLDERS = {
  connectionId: '<CONNECTION-ID>',
  endUserId: '<END-USER-ID>',
  sessionToken: '<CONNECT-SESSION-TOKEN>',
  apiPath: '<API-PATH>',
};

/** `<SUBDOMAIN>` for a field titled "Subdomain": what the end user would type there. */
export function fieldPlaceholder(field: Pick<FormField, 'title'>): string {
  return `<${field.title.toUpperCase().replace(/[^A-Z0-9]+/g, '-').replace(/^-+|-+$/g, '')}>`;
}

/**
 * The code a developer needs to use this integration with @nangohq/frontend and @nangohq/node 0.71.10 (and curl),
 * written for this server's address, this integration's key and its auth mode.
 */
export function integrationSnippets(target: SnippetTarget): Snippet[] {
  return [
    { id: 'connect-ui', label: 'Connect UI', language: 'javascript', code: connectUiSnippet(target) },
    { id: 'auth', label: 'auth()', language: 'javascript', code: authSnippet(target) },
    { id: 'node', label: 'Node', language: 'javascript', code: nodeSnippet(target) },
    { id: 'curl', label: 'curl', language: 'shell', code: curlSnippet(target) },
  ];
}

function connectUiSnippet({ serverUrl, connectUrl }: SnippetTarget): string {
  return `import Nango from '@nangohq/frontend';

// The connect session token your backend created for this user (see the Node or curl snippet).
const nango = new Nango({ host: ${js(serverUrl)}, connectSessionToken: ${js(PLACEHOLDERS.sessionToken)} });

nango.openConnectUI({
  baseURL: ${js(connectUrl)},
  apiURL: ${js(serverUrl)},
  onEvent: (event) => {
    if (event.type === 'connect') console.log('Connected:', event.payload.connectionId);
  },
});
`;
}

function authSnippet({ integration, authMode, fields, serverUrl }: SnippetTarget): string {
  const values = { params: {} as Record<string, string>, credentials: {} as Record<string, string> };
  for (const field of fields) values[field.group][field.name] = fieldPlaceholder(field);
  const call = authCall(authMode, values);
  const options = literal(withoutEmpty(call.options), '');
  const args = options === '{}' ? js(integration) : `${js(integration)}, ${options}`;
  const popup = connectsInPopup(authMode);
  return `import Nango from '@nangohq/frontend';

// The connect session token your backend created for this user (see the Node or curl snippet).
const nango = new Nango({ host: ${js(serverUrl)}, connectSessionToken: ${js(PLACEHOLDERS.sessionToken)} });

${popup ? '// Call it in a click handler: it opens a window at the provider where the user signs in and approves.\n' : ''}const result = await nango.${call.method}(${args});
console.log('Connected:', result.connectionId);
`;
}

function nodeSnippet({ integration, serverUrl }: SnippetTarget): string {
  return `import { Nango } from '@nangohq/node';

// The secret key stays on your server: read it from the environment, never write it in code.
const nango = new Nango({ host: ${js(serverUrl)}, secretKey: process.env.${SECRET_KEY_VARIABLE} });

// A connect session for one of your users: give data.token to your frontend.
const { data } = await nango.createConnectSession({
  end_user: { id: ${js(PLACEHOLDERS.endUserId)} },
  allowed_integrations: [${js(integration)}],
});

// A connection's credentials, refreshed first if they are about to expire: the access token for OAuth 2,
// an object with the credentials for the other auth modes.
const token = await nango.getToken(${js(integration)}, ${js(PLACEHOLDERS.connectionId)});

// A request to the provider's API with the connection's credentials.
const response = await nango.proxy({
  method: 'GET',
  endpoint: ${js(`/${PLACEHOLDERS.apiPath}`)},
  providerConfigKey: ${js(integration)},
  connectionId: ${js(PLACEHOLDERS.connectionId)},
});
console.log(response.data);
`;
}

function curlSnippet({ integration, serverUrl }: SnippetTarget): string {
  const auth = `-H "Authorization: Bearer $${SECRET_KEY_VARIABLE}"`;
  const session = JSON.stringify({ end_user: { id: PLACEHOLDERS.endUserId }, allowed_integrations: [integration] });
  return `# A connect session for one of your users: give data.token to your frontend.
curl -X POST ${sh(`${serverUrl}/connect/sessions`)} \\
  ${auth} \\
  -H 'Content-Type: application/json' \\
  -d ${sh(session)}

# A connection's credentials, refreshed first if they are about to expire.
curl ${sh(`${serverUrl}/connections/${PLACEHOLDERS.connectionId}?provider_config_key=${encodeURIComponent(integration)}`)} \\
  ${auth}

# A request to the provider's API with the connection's credentials.
curl ${sh(`${serverUrl}/proxy/${PLACEHOLDERS.apiPath}`)} \\
  ${auth} \\
  -H ${sh(`Connection-Id: ${PLACEHOLDERS.connectionId}`)} \\
  -H ${sh(`Provider-Config-Key: ${integration}`)}
`;
}

/** A JavaScript string literal in single quotes. */
function js(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

/** A shell word in single quotes. */
function sh(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Drops empty objects (no connection parameters, say), which the call does not need. */
function withoutEmpty(value: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => !(item && typeof item === 'object' && Object.keys(item).length === 0)));
}

/** An object literal as a person would write it; `undefined` stays (it means "use the integration's own setting"). */
function literal(value: unknown, indent: string): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return js(value);
  if (typeof value !== 'object' || value === null) return String(value);
  const entries = Object.entries(value);
  if (entries.length === 0) return '{}';
  const inner = entries.map(([key, item]) => `${indent}  ${/^[A-Za-z_$][\w$]*$/.test(key) ? key : js(key)}: ${literal(item, `${indent}  `)},`);
  return `{\n${inner.join('\n')}\n${indent}}`;
}
