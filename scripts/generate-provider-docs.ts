/**
 * Renders docs/providers.md from the provider catalog (providers.yaml), so the list of providers a reader sees
 * is the list the server loads. Run `tsx scripts/generate-provider-docs.ts` after changing providers.yaml;
 * a test fails while the committed page differs from what this renders.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { loadProviderCatalog, type ProviderCatalog } from '../src/providers/provider-catalog.js';
import { AUTH_MODES, type ProviderTemplate } from '../src/providers/provider-schema.js';

export const PROVIDER_DOCS_FILE = path.join(PACKAGE_ROOT, 'docs', 'providers.md');

const TEMPLATE_KEYS: [key: string, meaning: string][] = [
  ['alias', 'Name of another entry whose keys this entry takes; every key written here replaces that key whole.'],
  ['display_name', 'The name shown to people.'],
  ['categories', 'One or more of the categories listed below; the first one is where the provider is listed.'],
  ['auth_mode', '`OAUTH2`, `OAUTH1`, `OAUTH2_CC` (client credentials), `API_KEY`, `BASIC` or `NONE`.'],
  ['docs', "The provider's own documentation of how to authenticate (every built-in entry has one; an overlay entry may leave it out)."],
  ['docs_connect', 'Optional page that helps the end user find what to enter when connecting.'],
  ['authorization_url', 'Where the user is sent to grant access (OAuth 2.0 and 1.0a).'],
  ['token_url', 'Where an authorization code (or OAuth 1.0a verifier, or client credentials) is exchanged for a token.'],
  ['refresh_url', 'Where a refresh token is exchanged, when that is not `token_url`.'],
  ['request_url', 'OAuth 1.0a only: where the temporary request token is obtained.'],
  ['authorization_params', 'Extra query parameters of the authorization URL, e.g. Google\'s `access_type: offline`.'],
  ['token_params', 'Extra parameters of the token request (and, without `refresh_params`, of refresh requests). For `OAUTH2_CC`, a `grant_type` here replaces `client_credentials` (SAP Concur\'s password grant); the refresh token such a grant issues is kept and renews the connection.'],
  ['refresh_params', 'Extra parameters of refresh requests, replacing `token_params` there.'],
  ['request_params', 'OAuth 1.0a only: extra parameters of the request-token call: `oauth_`-prefixed ones join the protocol parameters in the `Authorization` header, the others go in its query string.'],
  ['scope_separator', 'What joins scopes in the `scope` parameter (a space unless written; Slack and others use `,`).'],
  ['default_scopes', 'Scopes suggested for a new integration.'],
  ['disable_pkce', '`true` where the provider rejects PKCE parameters; PKCE (S256) is sent otherwise.'],
  ['authorization_method', '`header` sends the client id and secret as HTTP Basic on token requests; `body` (default) sends them as form fields.'],
  ['body_format', '`json` sends token requests as JSON instead of a form.'],
  ['token_request_auth_method', '`basic` sends HTTP Basic client authentication in addition to the body fields.'],
  ['token_http_method', 'The HTTP method of token requests when not `POST`.'],
  ['authorization_param_names', 'The provider\'s names for OAuth\'s own authorization parameters (`client_id`, `response_type`, `redirect_uri`, `scope`), e.g. TikTok\'s `client_id: app_id`; `false` leaves one out. `state` is always `state`.'],
  ['authorization_code_param_in_callback', 'The query parameter of the redirect back that carries the authorization code, when it is not `code` (Amazon\'s `spapi_oauth_code`).'],
  ['token_param_names', 'The provider\'s names for the token request\'s own fields (`grant_type`, `code`, `redirect_uri`, `code_verifier`, `client_id`, `client_secret`, `refresh_token`), in code exchanges and refreshes, e.g. TikTok\'s `app_id`, `secret` and `auth_code`; `false` leaves one out.'],
  ['token_response_path', 'Where the token sits when the provider\'s answer wraps it (TikTok\'s `data`): a dotted path. `token_response_metadata` then names fields of that object.'],
  ['token_response_success', 'Fields a successful token answer carries with these values (TikTok\'s `code: 0`); any other answer is a refusal, even with HTTP 200, and its `message` says why.'],
  ['token_response_metadata', 'Fields of the token response (dotted paths allowed, e.g. `team.id`) copied into the connection configuration; strings, numbers and lists of them.'],
  ['redirect_uri_metadata', 'Query parameters of the redirect back from the provider copied into the connection configuration (e.g. QuickBooks `realmId`).'],
  ['token_expiration_buffer', "Accepted for compatibility with existing templates (seconds of margin before a token's expiry)."],
  ['request_http_method', 'OAuth 1.0a only: the HTTP method of the request-token call when not `POST`.'],
  ['signature_method', "OAuth 1.0a signature: `HMAC-SHA1` (default), `RSA-SHA1` (the integration's client secret is then the PEM of the consumer's RSA private key) or `PLAINTEXT`."],
  ['require_client_certificate', '`true` where the provider requires mutual TLS (ADP): each connection gives `client_certificate` and `client_private_key` (PEM, declared under `credentials` with `format: pem`, the key `secret`), checked to be a pair when connecting and presented in the TLS handshake of the token request and of every proxied call. `OAUTH2_CC` only. The key is stored encrypted and no read returns it (docs/security.md).'],
  ['connection_config', 'Connection parameters the user provides (subdomain, shop, tenant…) or that the token response fills: each has `title`, `description`, `example` and a `pattern` (a JavaScript regular expression), or an `enum`: the closed list of values accepted (a region), which no connection can leave. `optional` marks one that may be left empty, `default_value` the value a form starts with.'],
  ['credentials', 'For `API_KEY` and `BASIC`: the fields the user types (`apiKey`, or `username` and `password`), with `title`, `description` (what the value is and where the user finds it) and `secret`. For `OAUTH2_CC`: credentials of the connection the grant sends beside the client (SAP Concur\'s `${companyRequestToken}` in `token_params`); they may arrive as `params[…]` (the frontend SDK has no other way to send them) and are kept, sealed, with the credentials, never in the connection configuration.'],
  ['post_token_request', 'OAUTH2 and OAUTH2_CC: a request made after every token grant and refresh with the new token (Bullhorn\'s REST login): `url`, `method` (`POST` or `GET`), `query` and `headers` (`${accessToken}` and connection parameters filled in), and `keep`, the fields of its answer kept with the credentials as secrets, for the proxy\'s headers or query (`${BhRestToken}`). A template with one authorises proxied calls with what it keeps, not with the access token.'],
  ['api_base_url', 'OAUTH2 and OAUTH2_CC: the API\'s base URL as the provider\'s answer names it, `${apiBaseUrl}` in `proxy.base_url` and `refresh_url`: `field` of the token answer (or, with `from: post_token_request`, of that request\'s answer), and `hosts`, the only hosts it may name (`host`, `host:port` or `*.domain`, https). A refresh answer without the field keeps the one named before. A name under a `*.` entry must resolve to a public address, like a host a connection chooses.'],
  ['proxy.base_url', 'The base URL of the provider\'s API (`base_api_url` is accepted as an older spelling).'],
  ['proxy.headers, proxy.query', 'Headers and query parameters added to API calls, e.g. `authorization: Bearer ${apiKey}`.'],
];

export function renderProviderDocs(catalog: ProviderCatalog): string {
  const providers = catalog.list();
  const rows = providers
    .map(({ name, template }) => ({ name, template, category: template.categories?.[0] ?? 'other' }))
    .sort((a, b) => (a.category === b.category ? compare(a.name, b.name) : compare(a.category, b.category)));
  const modeCounts = AUTH_MODES.map((mode) => `${providers.filter(({ template }) => template.auth_mode === mode).length} ${mode}`).join(', ');
  const categories = [...new Set(providers.flatMap(({ template }) => template.categories ?? []))].sort(compare);

  const lines: string[] = [
    '# Providers',
    '',
    '<!-- Generated from providers.yaml by scripts/generate-provider-docs.ts; edit those, not this page. -->',
    '',
    'The provider catalog tells the server how to connect to each third-party API: where to send the user to',
    'grant access, where to exchange codes for tokens, what the API\'s base URL is, and which parameters a',
    'connection needs. The built-in catalog is [`providers.yaml`](../providers.yaml); it is loaded and checked',
    'once at start, and a broken entry stops the server with a message naming the provider.',
    '',
    `It holds ${providers.length} providers: ${modeCounts}.`,
    '',
    '## Adding or overriding providers',
    '',
    'Set `NANGO_PROVIDERS_FILE` to a YAML file of entries in the same form. An entry whose name is new adds a',
    'provider (without `display_name` it is shown by its name, without `docs` it has no docs link); an entry',
    'with the name of a built-in one is merged into it key by key, down to a single key of one field or of',
    '`proxy`, and keeps everything else. For example, to add a provider and point an existing one at a',
    'different API host:',
    '',
    '```yaml',
    'acme-crm:',
    '  display_name: Acme CRM',
    '  categories: [crm]',
    '  auth_mode: OAUTH2',
    '  authorization_url: https://login.acme.example/oauth/authorize',
    '  token_url: https://login.acme.example/oauth/token',
    '  proxy:',
    '    base_url: https://api.acme.example',
    '  docs: https://developers.acme.example/oauth',
    '',
    'github:',
    '  proxy:',
    '    base_url: https://github.example.com/api/v3',
    '```',
    '',
    'A product family shares one entry through `alias`: `google-calendar` is `alias: google` plus its own',
    '`display_name`, `default_scopes` and `docs`. Where Nango\'s catalog names a provider differently, its name',
    'is an alias of ours (`google-mail` of `gmail`, `squareup` of `square`, `toggl` of `toggl-track`, …), and',
    '`proxy.base_url` is the API\'s origin and root as in Nango\'s catalog, so a proxy call written for Nango',
    '(`endpoint: \'/api/v4/projects\'` for GitLab) reaches the same URL here.',
    '',
    'Ten entries took Nango\'s names for their connection parameters (Metabase and Mattermost `hostname`,',
    'WooCommerce `storeURL`, Nextcloud `domain`, PostHog, BambooHR and Chargebee `subdomain`, Copper `userEmail`,',
    'ActiveCampaign `hostname`, Datadog `siteParameter` and `authorizeHost`). Connections stored under the old',
    'names are given the new ones by a migration at start (the old names stay for a replica of the previous',
    'release); new connections must send the new names.',
    '',
    'Check an overlay before deploying it with `npm run catalog:check -- --overlay my-providers.yaml` (without',
    '`--overlay`, the built-in catalog is checked): it needs no network and names each problem\'s provider and',
    'key. `--discovery` also compares providers that publish OpenID discovery metadata with it, which contacts',
    'them: run it by hand, never in tests.',
    '',
    '## Template keys',
    '',
    '| Key | Meaning |',
    '|---|---|',
    ...TEMPLATE_KEYS.map(([key, meaning]) => `| \`${key}\` | ${cell(meaning)} |`),
    '',
    `Categories: ${categories.map((category) => `\`${category}\``).join(', ')}.`,
    '',
    '## Placeholders',
    '',
    'URLs, proxy headers and proxy query parameters may contain placeholders, filled in for each connection:',
    '',
    '| Placeholder | Filled with |',
    '|---|---|',
    '| `${connectionConfig.<name>}` | The connection parameter `<name>`, declared under `connection_config` (`${connectionConfig.params.<name>}` is accepted too). |',
    '| `${apiKey}`, `${username}`, `${password}` | A credential the user entered, declared under `credentials`. |',
    '| `${base64(username:password)}` | The base64 encoding of what it wraps, names inside replaced by their values, e.g. `authorization: Basic ${base64(username:password)}`. |',
    '',
    'A URL may offer fallbacks, `A || B`: the first alternative whose placeholders all have values is used, e.g.',
    '`https://api.${connectionConfig.region}.intercom.io || https://api.intercom.io`. Authorization, token and',
    'refresh parameters take `${connectionConfig.<name>}` too (Auth0\'s `audience`); one naming an optional',
    'parameter that is empty is left out, and any other missing value refuses the request, naming it.',
    '',
    '## Catalog',
    '',
    'Connection parameters marked "from the provider" are filled in from the token response or the redirect',
    'after sign-in; the others are passed when the connection is made.',
    '',
    '| Category | Provider | Display name | Auth mode | Connection parameters | Docs |',
    '|---|---|---|---|---|---|',
    ...rows.map(({ name, template, category }) =>
      `| ${category} | \`${name}\` | ${cell(template.display_name)} | ${template.auth_mode} | ${connectionParameters(template)} | [docs](${template.docs}) |`,
    ),
    '',
  ];
  return lines.join('\n');
}

function connectionParameters(template: ProviderTemplate): string {
  const fields = Object.entries(template.connection_config ?? {});
  if (fields.length === 0) return '';
  return fields
    .map(([name, field]) => {
      const notes = [field.hidden ? 'from the provider' : undefined, field.optional ? 'optional' : undefined].filter(Boolean);
      return `\`${name}\`${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`;
    })
    .join(', ');
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const catalog = loadProviderCatalog();
  writeFileSync(PROVIDER_DOCS_FILE, renderProviderDocs(catalog));
  console.log(`Wrote ${path.relative(process.cwd(), PROVIDER_DOCS_FILE)} (${catalog.list().length} providers).`);
}
