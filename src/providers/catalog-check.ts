import { readFileSync } from 'node:fs';
import { isMap, isScalar, parseDocument } from 'yaml';
import { AUTH_MODE_FACTS } from '../credentials/auth-modes.js';
import { ANSWERED_BASE_URL_PLACEHOLDER, parseAnsweredHost } from './answered-base-url.js';
import { loadProviderCatalog, ProviderCatalogError } from './provider-catalog.js';
import { RawCatalogSchema, type ProviderTemplate, type RawEntry } from './provider-schema.js';

/**
 * What `npm run catalog:check` checks in a catalog file, without the network: every entry loads, has a name
 * and the provider's docs, declares every placeholder it uses, describes every field, and writes URLs of the
 * right shape. Each problem names the provider and the key to fix.
 */
export const CATEGORIES = [
  'crm', 'support', 'productivity', 'dev-tools', 'communication', 'accounting', 'payments', 'marketing', 'hr',
  'storage', 'e-commerce', 'analytics', 'design', 'project-management', 'social', 'video', 'other',
] as const;

const URL_KEYS = ['authorization_url', 'token_url', 'refresh_url', 'request_url', 'base_api_url'] as const;
/** Fixed user names or passwords some providers' docs prescribe inside HTTP Basic (Freshdesk `X`, Mailgun `api`, Zendesk `/token`). */
const LITERALS_INSIDE_BASE64 = new Set(['X', 'x', 'api', 'token']);
const PLACEHOLDER = /\$\{([^}]*)\}/g;
const ALTERNATIVES = /\s+\|\|\s+/;

export function checkCatalogFile(file: string): string[] {
  const problems = duplicateKeys(readFileSync(file, 'utf8'));
  if (problems.length > 0) return problems;
  let catalog;
  try {
    catalog = loadProviderCatalog(undefined, file);
  } catch (error) {
    if (error instanceof ProviderCatalogError) return [error.message];
    throw error;
  }
  const raw = RawCatalogSchema.parse(parseDocument(readFileSync(file, 'utf8')).toJS() ?? {});
  for (const { name, template } of catalog.list()) problems.push(...checkEntry(name, template, resolvedRaw(name, raw)));
  return problems;
}

/**
 * An operator's overlay (NANGO_PROVIDERS_FILE) as the server would load it over the built-in catalog: each of
 * its entries is checked once merged; a new entry may leave out display_name and docs.
 */
export function checkOverlayFile(file: string, builtInFile?: string): string[] {
  const problems = duplicateKeys(readFileSync(file, 'utf8'));
  if (problems.length > 0) return problems;
  let catalog;
  try {
    catalog = loadProviderCatalog(file, builtInFile);
  } catch (error) {
    if (error instanceof ProviderCatalogError) return [error.message];
    throw error;
  }
  const names = Object.keys((parseDocument(readFileSync(file, 'utf8')).toJS() as Record<string, unknown> | null) ?? {});
  for (const name of names) {
    const template = catalog.get(name);
    if (template) problems.push(...checkEntry(name, template, {}, { overlay: true }));
  }
  return problems;
}

/** The keys an entry writes itself or takes through its alias chain (before defaults are applied). */
function resolvedRaw(name: string, raw: Record<string, RawEntry>): RawEntry {
  const entry = raw[name] ?? {};
  return entry.alias ? { ...resolvedRaw(entry.alias, raw), ...entry } : entry;
}

/** A YAML parser keeps the last of two equal keys silently in some modes: the text is read for them here. */
function duplicateKeys(text: string): string[] {
  const document = parseDocument(text, { uniqueKeys: false });
  if (!isMap(document.contents)) return [];
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const pair of document.contents.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (seen.has(key)) problems.push(`Provider "${key}" is written twice; keep one entry.`);
    seen.add(key);
  }
  return problems;
}

/** `overlay`: an operator's entry, which may leave out display_name, docs and categories (the server has defaults). */
export function checkEntry(name: string, template: ProviderTemplate, raw: RawEntry, options: { overlay?: boolean } = {}): string[] {
  const problems: string[] = [];
  const problem = (text: string) => problems.push(`${name}: ${text}`);
  if (!raw.display_name && !options.overlay) problem('display_name is missing.');
  if (!raw.docs && !options.overlay) problem("docs is missing: link the provider's own documentation of how to authenticate.");
  const categories = template.categories ?? [];
  if (categories.length === 0 && !options.overlay) problem(`categories is missing: one or more of ${CATEGORIES.join(', ')}.`);
  for (const category of categories) if (!(CATEGORIES as readonly string[]).includes(category)) problem(`category "${category}" is not one of ${CATEGORIES.join(', ')}.`);

  for (const [where, text] of templatedStrings(template)) {
    for (const placeholder of undeclaredPlaceholders(text, template, where)) problem(`${where} uses \${${placeholder}}, which is declared under neither connection_config nor credentials.`);
  }
  for (const entry of template.api_base_url?.hosts ?? []) {
    if (parseAnsweredHost(entry)?.scheme !== 'https:') problem(`api_base_url.hosts "${entry}" allows plain HTTP; list https hosts only (http:// is for a local stand-in).`);
  }
  for (const [where, text] of urls(template)) {
    for (const alternative of text.split(ALTERNATIVES)) {
      const filled = withExamples(alternative, template);
      let url: URL | undefined;
      try {
        url = new URL(filled);
      } catch {
        url = undefined;
      }
      if (!url || url.protocol !== 'https:') problem(`${where} "${alternative}" is not an https:// URL once its parameters hold their examples ("${filled}").`);
      else if (where === 'proxy.base_url' && (url.search || url.hash)) problem(`proxy.base_url "${alternative}" has a query or fragment; put query parameters under proxy.query.`);
    }
  }
  for (const [group, fields] of [['connection_config', template.connection_config], ['credentials', template.credentials]] as const) {
    for (const [field, definition] of Object.entries(fields ?? {})) {
      if (!definition.description?.trim()) problem(`${group}.${field} has no description: say what the value is and where the user finds it.`);
      if (definition.pattern !== undefined) {
        try {
          new RegExp(definition.pattern);
        } catch (error) {
          problem(`${group}.${field}.pattern does not compile: ${(error as Error).message}`);
        }
      }
    }
  }
  for (const [field, definition] of Object.entries(template.connection_config ?? {})) {
    const missing = (['example', 'pattern'] as const).filter((key) => !definition[key]);
    if (missing.length > 0) problem(`connection_config.${field} has no ${missing.join(' or ')}.`);
    else if (!new RegExp(definition.pattern ?? '').test(definition.example ?? '')) problem(`connection_config.${field}.example "${definition.example}" does not match its pattern ${definition.pattern}.`);
  }
  for (const text of renamedParamProblems(template)) problem(text);
  const declared = AUTH_MODE_FACTS[template.auth_mode].templateCredentials;
  if (declared.some((field) => !template.credentials?.[field])) problem(`a ${template.auth_mode} provider declares ${declared.map((field) => `credentials.${field}`).join(' and ')}.`);
  problems.push(...clientCertificateProblems(template).map((text) => `${name}: ${text}`));
  return problems;
}

/**
 * A provider that requires a client certificate asks each connection for it: the Connect UI's form needs both
 * PEM fields, and the key must be typed as a secret. Its token and API URLs are https:// (checked above for all).
 */
function clientCertificateProblems(template: ProviderTemplate): string[] {
  if (!template.require_client_certificate) return [];
  const problems: string[] = [];
  for (const [field, secret] of [['client_certificate', false], ['client_private_key', true]] as const) {
    const definition = template.credentials?.[field];
    if (!definition) problems.push(`require_client_certificate needs credentials.${field} (format: pem), so the Connect UI asks for it.`);
    else if (definition.format !== 'pem') problems.push(`credentials.${field} holds PEM text: give it format: pem.`);
    else if (secret && !definition.secret) problems.push(`credentials.${field} is a private key: mark it secret: true.`);
  }
  return problems;
}

/**
 * A provider's names for OAuth's own parameters must leave every parameter distinct: two renamed to one name,
 * or one renamed onto a parameter that is still sent under that name, would silently drop a value.
 */
function renamedParamProblems(template: ProviderTemplate): string[] {
  const problems: string[] = [];
  const groups = [
    ['authorization_param_names', template.authorization_param_names, ['client_id', 'response_type', 'redirect_uri', 'scope', 'state', 'user_scope', 'code_challenge', 'code_challenge_method'], template.authorization_params],
    ['token_param_names', template.token_param_names, ['grant_type', 'code', 'redirect_uri', 'code_verifier', 'client_id', 'client_secret', 'refresh_token'], { ...template.token_params, ...template.refresh_params }],
  ] as const;
  for (const [key, names, own, extra] of groups) {
    if (!names) continue;
    const renamed = names as Partial<Record<string, string | false>>;
    const sentAs = new Map<string, string>();
    for (const field of own) {
      const name = Object.hasOwn(renamed, field) ? renamed[field] : field;
      if (name === false || name === undefined) continue;
      const other = sentAs.get(name);
      if (other !== undefined) problems.push(`${key} sends both ${other} and ${field} as "${name}"; give each its own name.`);
      sentAs.set(name, field);
    }
    for (const [field, name] of Object.entries(renamed)) {
      if (typeof name === 'string' && name !== field && Object.hasOwn(extra ?? {}, name)) problems.push(`${key}.${field} is "${name}", which the template also sets itself; keep one.`);
    }
  }
  const callbackCode = template.authorization_code_param_in_callback;
  if (callbackCode === 'state' || callbackCode === 'error') problems.push(`authorization_code_param_in_callback cannot be "${callbackCode}": the callback uses that parameter for its own meaning.`);
  return problems;
}

/** Every string of a template that may hold placeholders, with where it sits. */
export function templatedStrings(template: ProviderTemplate): [where: string, text: string][] {
  const strings: [string, string][] = [];
  for (const key of URL_KEYS) {
    const value = template[key];
    if (value) strings.push([key, value]);
  }
  for (const key of ['authorization_params', 'token_params', 'refresh_params'] as const) {
    for (const [param, value] of Object.entries(template[key] ?? {})) strings.push([`${key}.${param}`, String(value)]);
  }
  const postToken = template.post_token_request;
  if (postToken) {
    strings.push(['post_token_request.url', postToken.url]);
    for (const [param, value] of Object.entries(postToken.query ?? {})) strings.push([`post_token_request.query.${param}`, value]);
    for (const [header, value] of Object.entries(postToken.headers ?? {})) strings.push([`post_token_request.headers.${header}`, value]);
  }
  if (template.proxy) {
    strings.push(['proxy.base_url', template.proxy.base_url]);
    for (const [header, value] of Object.entries(template.proxy.headers ?? {})) strings.push([`proxy.headers.${header}`, value]);
    for (const [param, value] of Object.entries(template.proxy.query ?? {})) strings.push([`proxy.query.${param}`, value]);
  }
  return strings;
}

function urls(template: ProviderTemplate): [where: string, text: string][] {
  return [
    ...URL_KEYS.flatMap((key): [string, string][] => (template[key] ? [[key, template[key]]] : [])),
    ...(template.post_token_request ? [['post_token_request.url', template.post_token_request.url] as [string, string]] : []),
    ...(template.proxy ? [['proxy.base_url', template.proxy.base_url] as [string, string]] : []),
    ...(template.docs ? [['docs', template.docs] as [string, string]] : []),
    ...(template.docs_connect ? [['docs_connect', template.docs_connect] as [string, string]] : []),
  ];
}

/**
 * Whether a placeholder has a value to take: a declared connection parameter or credential, a value the mode
 * fills in, the base URL the provider's answer names, the post-token request's kept fields, and (in the
 * post-token request itself) the new access token.
 */
function isDeclared(name: string, template: ProviderTemplate, where = ''): boolean {
  const connectionParameter = /^connectionConfig\.(?:params\.)?(.+)$/.exec(name);
  if (connectionParameter) return Object.hasOwn(template.connection_config ?? {}, connectionParameter[1] ?? '');
  if (name === ANSWERED_BASE_URL_PLACEHOLDER && template.api_base_url) return true;
  if (template.post_token_request?.keep.includes(name)) return !where.startsWith('post_token_request.');
  if (name === 'accessToken' && where.startsWith('post_token_request.')) return true;
  return Object.hasOwn(template.credentials ?? {}, name) || AUTH_MODE_FACTS[template.auth_mode].templateUrlValues.includes(name);
}

function undeclaredPlaceholders(text: string, template: ProviderTemplate, where: string): string[] {
  const undeclared: string[] = [];
  for (const match of text.matchAll(PLACEHOLDER)) {
    const inner = match[1] ?? '';
    const base64 = /^base64\((.*)\)$/.exec(inner);
    if (base64) {
      for (const [name] of (base64[1] ?? '').matchAll(/[A-Za-z_][\w.]*/g)) {
        if (!isDeclared(name, template) && !LITERALS_INSIDE_BASE64.has(name)) undeclared.push(`base64(${name})`);
      }
    } else if (!isDeclared(inner, template, where)) {
      undeclared.push(inner);
    }
  }
  return undeclared;
}

/** The text with each connection parameter replaced by its declared example and each credential by a stand-in. */
export function withExamples(text: string, template: ProviderTemplate): string {
  return text.replace(PLACEHOLDER, (_whole, inner: string) => {
    const connectionParameter = /^connectionConfig\.(?:params\.)?(.+)$/.exec(inner);
    if (connectionParameter) return template.connection_config?.[connectionParameter[1] ?? '']?.example ?? '';
    if (inner === ANSWERED_BASE_URL_PLACEHOLDER) return answeredBaseUrlExample(template);
    return 'credential';
  });
}

/** A base URL the provider could name, for checking the URLs built on it: a name under the first listed host. */
function answeredBaseUrlExample(template: ProviderTemplate): string {
  const first = parseAnsweredHost(template.api_base_url?.hosts[0] ?? '');
  return first ? `${first.scheme}//${first.pattern.replace(/^\*\./, 'api.')}` : '';
}
