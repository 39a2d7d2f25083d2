import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { PROVIDER_DOCS_FILE, renderProviderDocs } from '../scripts/generate-provider-docs.js';
import { BUILT_IN_CATALOG, loadProviderCatalog, ProviderCatalogError } from '../src/providers/provider-catalog.js';
import { checkCatalogFile, checkOverlayFile } from '../src/providers/catalog-check.js';
import { connectionParameterProblem } from '../src/providers/connection-parameters.js';
import { compareWithDiscovery, DISCOVERY_ISSUERS } from '../src/providers/discovery-check.js';
import { interpolate } from '../src/providers/interpolation.js';
import { AUTH_MODES, FieldSchema, ProviderTemplateSchema, RawCatalogSchema, type ProviderTemplate } from '../src/providers/provider-schema.js';
import { AUTH_MODE_FACTS } from '../src/credentials/auth-modes.js';

const CATEGORIES = [
  'crm', 'support', 'productivity', 'dev-tools', 'communication', 'accounting', 'payments', 'marketing', 'hr',
  'storage', 'e-commerce', 'analytics', 'design', 'project-management', 'social', 'video', 'other',
];
const URL_KEYS = ['authorization_url', 'token_url', 'refresh_url', 'request_url', 'base_api_url'] as const;
/** Fixed user names or passwords some providers' docs prescribe inside HTTP Basic (Freshdesk `X`, Mailgun `api`, Zendesk `/token`). */
const LITERALS_INSIDE_BASE64 = new Set(['X', 'x', 'api', 'token']);
const PLACEHOLDER = /\$\{([^}]*)\}/g;

const catalog = loadProviderCatalog();
const providers = catalog.list();
const rawEntries = RawCatalogSchema.parse(parse(readFileSync(BUILT_IN_CATALOG, 'utf8')));

/** Every string of a template that may hold placeholders, with where it sits. */
function templatedStrings(template: ProviderTemplate): [where: string, text: string][] {
  const strings: [string, string][] = [];
  for (const key of URL_KEYS) {
    const value = template[key];
    if (value) strings.push([key, value]);
  }
  for (const key of ['authorization_params', 'token_params', 'refresh_params'] as const) {
    for (const [name, value] of Object.entries(template[key] ?? {})) strings.push([`${key}.${name}`, String(value)]);
  }
  if (template.post_token_request) {
    strings.push(['post_token_request.url', template.post_token_request.url]);
    for (const [name, value] of Object.entries(template.post_token_request.query ?? {})) strings.push([`post_token_request.query.${name}`, value]);
    for (const [name, value] of Object.entries(template.post_token_request.headers ?? {})) strings.push([`post_token_request.headers.${name}`, value]);
  }
  if (template.proxy) {
    strings.push(['proxy.base_url', template.proxy.base_url]);
    for (const [name, value] of Object.entries(template.proxy.headers ?? {})) strings.push([`proxy.headers.${name}`, value]);
    for (const [name, value] of Object.entries(template.proxy.query ?? {})) strings.push([`proxy.query.${name}`, value]);
  }
  return strings;
}

function isDeclared(name: string, template: ProviderTemplate, where = ''): boolean {
  const connectionParameter = /^connectionConfig\.(?:params\.)?(.+)$/.exec(name);
  if (connectionParameter) return Object.hasOwn(template.connection_config ?? {}, connectionParameter[1] ?? '');
  // The base URL the provider's answer names, what the post-token request keeps (after it), and the new token (in it).
  if (name === 'apiBaseUrl') return template.api_base_url !== undefined;
  if (where.startsWith('post_token_request.')) return name === 'accessToken';
  if (template.post_token_request?.keep.includes(name)) return true;
  // A mode may fill values of its own into its URLs (a GitHub App's slug and installation id).
  return Object.hasOwn(template.credentials ?? {}, name) || AUTH_MODE_FACTS[template.auth_mode].templateUrlValues.includes(name);
}

/** Placeholder names that refer to nothing the template declares. */
function undeclaredPlaceholders(text: string, template: ProviderTemplate, where = ''): string[] {
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
function withExamples(text: string, template: ProviderTemplate): string {
  return text.replace(PLACEHOLDER, (_whole, inner: string) => {
    const connectionParameter = /^connectionConfig\.(?:params\.)?(.+)$/.exec(inner);
    if (connectionParameter) return template.connection_config?.[connectionParameter[1] ?? '']?.example ?? '';
    // An address the provider could name: a name under the first host the template allows.
    if (inner === 'apiBaseUrl') return `https://${(template.api_base_url?.hosts[0] ?? '').replace(/^\*\./, 'api.')}`;
    return 'credential';
  });
}

function withTempDir<T>(run: (dir: string) => T): T {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'provider-catalog-test-'));
  try {
    return run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the built-in provider catalog', () => {
  it('loads, and every entry is a valid provider template once its alias is resolved', () => {
    const invalid = providers
      .map(({ name, template }) => ({ name, result: ProviderTemplateSchema.safeParse(template) }))
      .filter(({ result }) => !result.success)
      .map(({ name, result }) => `${name}: ${result.error?.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; ')}`);
    expect(invalid).toEqual([]);
  });

  it('has at least 150 providers', () => {
    expect(providers.length).toBeGreaterThanOrEqual(150);
  });

  it('uses every auth mode, each for several providers', () => {
    for (const mode of AUTH_MODES) {
      const count = providers.filter(({ template }) => template.auth_mode === mode).length;
      expect(count, `providers using ${mode}`).toBeGreaterThanOrEqual(3);
    }
  });

  it('gives every provider at least one category from the known list', () => {
    const wrong = providers
      .filter(({ template }) => !template.categories?.length || template.categories.some((category) => !CATEGORIES.includes(category)))
      .map(({ name, template }) => `${name}: ${JSON.stringify(template.categories ?? [])}`);
    expect(wrong).toEqual([]);
  });

  it('has every alias name an entry that exists', () => {
    const dangling = Object.entries(rawEntries)
      .filter(([, entry]) => entry.alias !== undefined && !Object.hasOwn(rawEntries, entry.alias))
      .map(([name, entry]) => `${name} → ${entry.alias}`);
    expect(dangling).toEqual([]);
    for (const [name, entry] of Object.entries(rawEntries)) {
      if (entry.alias) expect(catalog.has(name), name).toBe(true);
    }
  });

  it('has every placeholder in a URL, an authorization, token or refresh parameter, a proxy header or proxy query name a declared connection parameter or credential', () => {
    const undeclared = providers.flatMap(({ name, template }) =>
      templatedStrings(template).flatMap(([where, text]) => undeclaredPlaceholders(text, template, where).map((placeholder) => `${name} ${where}: \${${placeholder}}`)),
    );
    expect(undeclared).toEqual([]);
  });

  it('is grouped by first category, alphabetical inside each group', () => {
    const firstCategory = (name: string) => catalog.get(name)?.categories?.[0] ?? '';
    const names = Object.keys(rawEntries);
    const groupsInOrder = names.map(firstCategory).filter((category, index, all) => index === 0 || category !== all[index - 1]);
    expect(groupsInOrder, 'each category is one block').toEqual([...new Set(groupsInOrder)]);
    const unsorted = names.filter((name, index) => index > 0 && firstCategory(names[index - 1] ?? '') === firstCategory(name) && (names[index - 1] ?? '') > name);
    expect(unsorted, 'entries out of alphabetical order in their group').toEqual([]);
  });

  it('uses only https URLs, with connection parameters filled in from their examples', () => {
    const notHttps: string[] = [];
    for (const { name, template } of providers) {
      const urls: [string, string][] = [
        ...URL_KEYS.flatMap((key): [string, string][] => (template[key] ? [[key, template[key]]] : [])),
        ...(template.proxy ? [['proxy.base_url', template.proxy.base_url] as [string, string]] : []),
        ...(template.post_token_request ? [['post_token_request.url', template.post_token_request.url] as [string, string]] : []),
        ['docs', template.docs ?? '(none)'],
        ...(template.docs_connect ? [['docs_connect', template.docs_connect] as [string, string]] : []),
      ];
      // A template may offer fallbacks (`A || B`): each alternative is a URL of its own.
      for (const [key, raw] of urls.flatMap(([key, text]) => text.split(/\s+\|\|\s+/).map((alternative): [string, string] => [key, alternative]))) {
        const filled = withExamples(raw, template);
        let protocol: string | undefined;
        try {
          protocol = new URL(filled).protocol;
        } catch {
          protocol = undefined;
        }
        if (protocol !== 'https:') notHttps.push(`${name} ${key}: ${raw} → ${filled}`);
      }
    }
    expect(notHttps).toEqual([]);
  });

  it('describes every connection parameter with a title, description, example and pattern the example matches', () => {
    const incomplete: string[] = [];
    for (const { name, template } of providers) {
      for (const [field, definition] of Object.entries(template.connection_config ?? {})) {
        const missing = (['title', 'description', 'example', 'pattern'] as const).filter((key) => !definition[key]);
        if (missing.length > 0) incomplete.push(`${name}.${field}: no ${missing.join(', ')}`);
        else if (!new RegExp(definition.pattern ?? '').test(definition.example ?? '')) incomplete.push(`${name}.${field}: example "${definition.example}" does not match ${definition.pattern}`);
      }
    }
    expect(incomplete).toEqual([]);
  });

  it('has every validation pattern compile as a regular expression', () => {
    const broken: string[] = [];
    for (const { name, template } of providers) {
      for (const [group, fields] of [['connection_config', template.connection_config], ['credentials', template.credentials]] as const) {
        for (const [field, definition] of Object.entries(fields ?? {})) {
          if (definition.pattern === undefined) continue;
          try {
            new RegExp(definition.pattern);
          } catch (error) {
            broken.push(`${name}.${group}.${field}: ${(error as Error).message}`);
          }
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('declares the credentials its proxy sends for API key and basic providers', () => {
    const missing = providers
      .filter(({ template }) => template.auth_mode === 'API_KEY' || template.auth_mode === 'BASIC')
      .filter(({ template }) => {
        const names = Object.keys(template.credentials ?? {});
        return template.auth_mode === 'API_KEY' ? !names.includes('apiKey') : !(names.includes('username') && names.includes('password'));
      })
      .map(({ name }) => name);
    expect(missing).toEqual([]);
  });

  it('is described by docs/providers.md as the generator renders it now (run `tsx scripts/generate-provider-docs.ts` after editing providers.yaml)', () => {
    expect(readFileSync(PROVIDER_DOCS_FILE, 'utf8')).toBe(renderProviderDocs(catalog));
  });
});

describe('an operator overlay (NANGO_PROVIDERS_FILE)', () => {
  it('adds a new provider and overrides one key of an existing provider, keeping its other keys', () => {
    withTempDir((dir) => {
      const overlay = path.join(dir, 'providers.yaml');
      writeFileSync(
        overlay,
        stringify({
          'acme-crm': {
            display_name: 'Acme CRM',
            categories: ['crm'],
            auth_mode: 'OAUTH2',
            authorization_url: 'https://login.acme.example/oauth/authorize',
            token_url: 'https://login.acme.example/oauth/token',
            proxy: { base_url: 'https://api.acme.example' },
            docs: 'https://developers.acme.example/oauth',
          },
          github: { display_name: 'GitHub (company)' },
        }),
      );
      const overlaid = loadProviderCatalog(overlay);
      expect(overlaid.get('acme-crm')).toMatchObject({ display_name: 'Acme CRM', auth_mode: 'OAUTH2', token_url: 'https://login.acme.example/oauth/token' });
      const github = overlaid.get('github');
      expect(github?.display_name).toBe('GitHub (company)');
      expect(github?.token_url).toBe(catalog.get('github')?.token_url);
      expect(github?.proxy).toEqual(catalog.get('github')?.proxy);
      expect(overlaid.list().length).toBe(providers.length + 1);
    });
  });

  it('overrides one key of one field of a built-in provider and keeps everything else of it', () => {
    withTempDir((dir) => {
      const overlay = path.join(dir, 'providers.yaml');
      writeFileSync(overlay, stringify({ microsoft: { connection_config: { tenant: { example: 'contoso.onmicrosoft.com' } }, proxy: { headers: { prefer: 'outlook.timezone="UTC"' } } } }));
      const microsoft = loadProviderCatalog(overlay).get('microsoft');
      const builtIn = catalog.get('microsoft');
      expect(microsoft?.connection_config?.['tenant']).toEqual({ ...builtIn?.connection_config?.['tenant'], example: 'contoso.onmicrosoft.com' });
      expect(microsoft?.proxy).toEqual({ ...builtIn?.proxy, headers: { prefer: 'outlook.timezone="UTC"' } });
      expect(microsoft?.token_url).toBe(builtIn?.token_url);
    });
  });

  it('adds a provider without display_name or docs, shown by its key and without a docs link', () => {
    withTempDir((dir) => {
      const overlay = path.join(dir, 'providers.yaml');
      writeFileSync(overlay, stringify({ 'internal-api': { auth_mode: 'API_KEY', credentials: { apiKey: { title: 'API key', secret: true } }, proxy: { base_url: 'https://api.internal.example' } } }));
      const added = loadProviderCatalog(overlay).get('internal-api');
      expect(added?.display_name).toBe('internal-api');
      expect(added?.docs).toBeUndefined();
    });
  });

  it('with a broken entry fails to load with a message naming that provider', () => {
    withTempDir((dir) => {
      const overlay = path.join(dir, 'providers.yaml');
      writeFileSync(overlay, stringify({ 'broken-crm': { display_name: 'Broken CRM', auth_mode: 'OAUTH2', token_url: 'https://broken.example/token', docs: 'https://broken.example/docs' } }));
      expect(() => loadProviderCatalog(overlay)).toThrow(ProviderCatalogError);
      expect(() => loadProviderCatalog(overlay)).toThrow(/Provider "broken-crm" is invalid: authorization_url/);
    });
  });
});

describe('a catalog whose alias points nowhere', () => {
  it('fails to load with a message naming the alias and the missing entry', () => {
    withTempDir((dir) => {
      const file = path.join(dir, 'providers.yaml');
      writeFileSync(file, stringify({ orphan: { alias: 'nowhere', display_name: 'Orphan' } }));
      expect(() => loadProviderCatalog(undefined, file)).toThrow(ProviderCatalogError);
      expect(() => loadProviderCatalog(undefined, file)).toThrow('Provider "orphan" is an alias of "nowhere", which does not exist.');
    });
  });
});

describe('npm run catalog:check', () => {
  it('finds no problem in the built-in catalog', () => {
    expect(checkCatalogFile(BUILT_IN_CATALOG)).toEqual([]);
  });

  it('gives every credential and connection parameter of every provider a description', () => {
    const undescribed = providers.flatMap(({ name, template }) =>
      [...Object.entries(template.credentials ?? {}), ...Object.entries(template.connection_config ?? {})].filter(([, field]) => !field.description?.trim()).map(([field]) => `${name}.${field}`),
    );
    expect(undescribed).toEqual([]);
  });

  it('refuses a field without a description, naming the provider and the field', () => {
    withTempDir((dir) => {
      const file = path.join(dir, 'providers.yaml');
      writeFileSync(file, stringify({ 'acme-keys': { display_name: 'Acme', categories: ['other'], auth_mode: 'API_KEY', credentials: { apiKey: { title: 'API key', secret: true } }, proxy: { base_url: 'https://api.acme.example' }, docs: 'https://docs.acme.example/auth' } }));
      expect(checkCatalogFile(file)).toEqual([expect.stringMatching(/^acme-keys: credentials\.apiKey has no description/)]);
    });
  });

  it('refuses a provider written twice', () => {
    withTempDir((dir) => {
      const file = path.join(dir, 'providers.yaml');
      const entry = '  display_name: Acme\n  categories: [other]\n  auth_mode: NONE\n  proxy:\n    base_url: https://api.acme.example\n  docs: https://docs.acme.example\n';
      writeFileSync(file, `acme:\n${entry}acme:\n${entry}`);
      expect(checkCatalogFile(file)).toEqual(['Provider "acme" is written twice; keep one entry.']);
    });
  });

  it('refuses an entry without docs, an undeclared placeholder and a URL that is not https', () => {
    withTempDir((dir) => {
      const file = path.join(dir, 'providers.yaml');
      writeFileSync(file, stringify({ acme: { display_name: 'Acme', categories: ['other'], auth_mode: 'OAUTH2', authorization_url: 'http://acme.example/authorize', token_url: 'https://${connectionConfig.tenant}.acme.example/token', proxy: { base_url: 'https://api.acme.example' } } }));
      expect(checkCatalogFile(file)).toEqual([
        expect.stringContaining('acme: docs is missing'),
        expect.stringContaining('acme: token_url uses ${connectionConfig.tenant}, which is declared under neither'),
        expect.stringContaining('acme: authorization_url "http://acme.example/authorize" is not an https:// URL'),
      ]);
    });
  });
});

describe('a connection parameter with a closed set of values (enum)', () => {
  it('accepts only the listed values, whatever else a pattern would allow', () => {
    const field = FieldSchema.parse({ title: 'Region', description: 'Where the account lives', enum: ['eu', 'au'], pattern: '^.*$' });
    const template = { connection_config: { region: field } };
    expect(connectionParameterProblem(template, { region: 'eu' })).toBeUndefined();
    expect(connectionParameterProblem(template, { region: 'evil.example/x' })).toBe('The connection parameter "region" must be one of "eu", "au".');
    expect(new RegExp(field.pattern ?? '').test('eux')).toBe(false);
  });
});

describe('template fallbacks (A || B)', () => {
  it('take the first alternative whose connection parameters are all set', () => {
    const template = 'https://api.${connectionConfig.region}.intercom.io || https://api.intercom.io';
    expect(interpolate(template, { connectionConfig: { region: 'eu' } })).toEqual({ value: 'https://api.eu.intercom.io', missing: [] });
    expect(interpolate(template, { connectionConfig: {} })).toEqual({ value: 'https://api.intercom.io', missing: [] });
  });
});

describe('drop-in compatibility with proxy calls written for Nango', () => {
  /** The API root Nango's catalog uses for the same provider: callers put the version path in the endpoint. */
  const NANGO_PROXY_ROOTS: Record<string, string> = {
    aircall: 'https://api.aircall.io', amplitude: 'https://${connectionConfig.hostname} || https://amplitude.com', asana: 'https://app.asana.com', bitbucket: 'https://api.bitbucket.org',
    canva: 'https://api.canva.com', clickup: 'https://api.clickup.com', close: 'https://api.close.com/api', cloudflare: 'https://api.cloudflare.com/client',
    confluence: 'https://api.atlassian.com', 'constant-contact': 'https://api.cc.email', copper: 'https://api.copper.com/developer_api',
    deel: 'https://api.letsdeel.com', discord: 'https://discord.com', 'docusign-sandbox': 'https://demo.docusign.net', 'dropbox-sign': 'https://api.hellosign.com',
    easypost: 'https://api.easypost.com', eventbrite: 'https://www.eventbriteapi.com', freeagent: 'https://api.freeagent.com', gitlab: 'https://gitlab.com',
    hibob: 'https://api.hibob.com', jira: 'https://api.atlassian.com', keap: 'https://api.infusionsoft.com', lever: 'https://api.lever.co',
    mixpanel: 'https://mixpanel.com', mollie: 'https://api.mollie.com', monday: 'https://api.monday.com', outreach: 'https://api.outreach.io',
    personio: 'https://api.personio.de/v1', pinterest: 'https://api.pinterest.com', ramp: 'https://api.ramp.com', razorpay: 'https://api.razorpay.com',
    'sage-accounting': 'https://api.accounting.sage.com', salesloft: 'https://api.salesloft.com', shortcut: 'https://api.app.shortcut.com',
    strava: 'https://www.strava.com', surveymonkey: 'https://api.surveymonkey.com', 'toggl-track': 'https://api.track.toggl.com', twitch: 'https://api.twitch.tv',
    webex: 'https://webexapis.com', webflow: 'https://api.webflow.com',
    auth0: 'https://${connectionConfig.domain}', chargebee: 'https://${connectionConfig.subdomain}.chargebee.com', datadog: 'https://api.${connectionConfig.siteParameter}/api',
    egnyte: 'https://${connectionConfig.subdomain}.egnyte.com/pubapi', freshdesk: 'https://${connectionConfig.subdomain}.freshdesk.com',
    freshservice: 'https://${connectionConfig.subdomain}.freshservice.com', gorgias: 'https://${connectionConfig.subdomain}.gorgias.com',
    mailchimp: 'https://${connectionConfig.dc}.api.mailchimp.com', mattermost: 'https://${connectionConfig.hostname}/api', metabase: 'https://${connectionConfig.hostname}',
    netsuite: 'https://${connectionConfig.accountId}.suitetalk.api.netsuite.com/services/rest/record/v1', nextcloud: 'https://${connectionConfig.domain}/ocs/v1.php',
    woocommerce: 'https://${connectionConfig.storeURL}', workable: 'https://${connectionConfig.subdomain}.workable.com',
    'zoho-books': 'https://www.zohoapis.${connectionConfig.extension}', 'zoho-crm': 'https://www.zohoapis.${connectionConfig.extension}',
  };
  /** Nango's name for a provider we also have under another name. */
  const NANGO_NAMES: Record<string, string> = {
    'google-mail': 'gmail', squareup: 'square', 'squareup-sandbox': 'square-sandbox', 'auth0-cc': 'auth0', 'aircall-basic': 'aircall',
    'copper-api-key': 'copper', 'datadog-oauth': 'datadog', 'hibob-service-user': 'hibob', 'next-cloud-ocs': 'nextcloud', sage: 'sage-accounting',
    'survey-monkey': 'surveymonkey', toggl: 'toggl-track', 'google-sheet': 'google-sheets', 'one-drive': 'onedrive', 'active-campaign': 'activecampaign',
    'wave-accounting': 'wave', 'smartrecruiters-api-key': 'smartrecruiters', 'personio-v2': 'personio', 'brevo-api-key': 'brevo', 'strava-web': 'strava', 'cal-com-v2': 'cal-com', 'one-note': 'microsoft-onenote', 'zendesk-api-key': 'zendesk-api-token',
  };

  it('puts the same origin and root in proxy.base_url as Nango does', () => {
    const differing = Object.entries(NANGO_PROXY_ROOTS)
      .filter(([name, root]) => catalog.get(name)?.proxy?.base_url !== root)
      .map(([name, root]) => `${name}: ${catalog.get(name)?.proxy?.base_url} (Nango: ${root})`);
    expect(differing).toEqual([]);
  });

  it("knows Nango's names, each the same provider (auth mode and API) as ours", () => {
    for (const [nangoName, ours] of Object.entries(NANGO_NAMES)) {
      const theirs = catalog.get(nangoName);
      expect(theirs, nangoName).toBeDefined();
      expect(theirs?.auth_mode, nangoName).toBe(catalog.get(ours)?.auth_mode);
      expect(new URL(withExamples(theirs?.proxy?.base_url ?? '', theirs as ProviderTemplate)).origin, nangoName).toBe(new URL(withExamples(catalog.get(ours)?.proxy?.base_url ?? '', catalog.get(ours) as ProviderTemplate)).origin);
    }
  });

  it('turns PKCE off for Square, whose PKCE grants get single-use refresh tokens', () => {
    expect(catalog.get('square')?.disable_pkce).toBe(true);
    expect(catalog.get('squareup')?.disable_pkce).toBe(true);
  });
});

describe('npm run catalog:check -- --overlay', () => {
  it('checks an overlay merged over the built-in catalog, allowing a new entry without name, docs or categories', () => {
    withTempDir((dir) => {
      const file = path.join(dir, 'overlay.yaml');
      writeFileSync(file, stringify({ github: { proxy: { base_url: 'http://github.example.com' } }, acme: { auth_mode: 'API_KEY', credentials: { apiKey: { title: 'Key', description: 'The key', secret: true } }, proxy: { base_url: 'https://api.acme.example' } } }));
      expect(checkOverlayFile(file)).toEqual([expect.stringMatching(/^github: proxy\.base_url "http:\/\/github\.example\.com" is not an https:\/\/ URL/)]);
    });
  });
});

describe('npm run catalog:check -- --discovery (opt-in; here fed metadata, never fetched)', () => {
  const metadataOf = (overrides: Record<string, Record<string, string>>) => async (url: string) => {
    const issuer = url.replace('/.well-known/openid-configuration', '');
    const provider = Object.entries(DISCOVERY_ISSUERS).find(([, candidate]) => candidate === issuer)?.[0] ?? '';
    const template = catalog.get(provider);
    return { authorization_endpoint: template?.authorization_url?.split(/\s+\|\|\s+/).at(-1), token_endpoint: template?.token_url?.split(/\s+\|\|\s+/).at(-1), ...overrides[provider] };
  };

  it('finds nothing when the metadata lists the endpoints the catalog has', async () => {
    expect(await compareWithDiscovery(catalog, metadataOf({}))).toEqual([]);
  });

  it('names the provider and key whose endpoint differs from the metadata', async () => {
    const problems = await compareWithDiscovery(catalog, metadataOf({ google: { token_endpoint: 'https://oauth2.googleapis.com/token/v2' } }));
    expect(problems).toEqual(['google: token_url is https://oauth2.googleapis.com/token, the discovery metadata says token_endpoint https://oauth2.googleapis.com/token/v2.']);
  });
});
