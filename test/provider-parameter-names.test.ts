import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { oauth2AuthorizationUrl, type AuthorizationRequest } from '../src/oauth/oauth2-authorization.js';
import { checkCatalogFile } from '../src/providers/catalog-check.js';
import { scratchDir } from './support/scratch.js';

/**
 * What `npm run catalog:check` says about a template that names OAuth's own parameters as its provider does
 * (`authorization_param_names`, `token_param_names`, `authorization_code_param_in_callback`) or reads a token
 * from an envelope (`token_response_path`, `token_response_success`), and what a template without them sends.
 */
const base = {
  display_name: 'Acme',
  categories: ['other'],
  auth_mode: 'OAUTH2',
  authorization_url: 'https://acme.example/authorize',
  token_url: 'https://acme.example/token',
  proxy: { base_url: 'https://api.acme.example' },
  docs: 'https://docs.acme.example/oauth',
};

function check(entry: Record<string, unknown>): string[] {
  const file = path.join(scratchDir('parameter-names'), 'providers.yaml');
  writeFileSync(file, stringify({ acme: { ...base, ...entry } }));
  return checkCatalogFile(file);
}

describe('npm run catalog:check on renamed parameters', () => {
  it('accepts renamed and left-out parameters, a callback code parameter, a token path and a success rule', () => {
    expect(
      check({
        authorization_param_names: { client_id: 'app_id', response_type: false },
        authorization_code_param_in_callback: 'auth_code',
        token_param_names: { client_id: 'app_id', client_secret: 'secret', code: 'auth_code', grant_type: false, redirect_uri: false },
        token_response_path: 'data',
        token_response_success: { code: 0 },
      }),
    ).toEqual([]);
  });

  it('refuses two parameters sent under one name, which would lose one of them', () => {
    expect(check({ token_param_names: { client_id: 'key', client_secret: 'key' } })).toEqual(['acme: token_param_names sends both client_id and client_secret as "key"; give each its own name.']);
    expect(check({ authorization_param_names: { client_id: 'scope' } })).toEqual(['acme: authorization_param_names sends both client_id and scope as "scope"; give each its own name.']);
  });

  it('refuses a name the template also sets itself in its extra parameters', () => {
    expect(check({ token_params: { app_id: 'fixed' }, token_param_names: { client_id: 'app_id' } })).toEqual(['acme: token_param_names.client_id is "app_id", which the template also sets itself; keep one.']);
  });

  it('refuses to rename state, or to read the code from the callback\'s state or error', () => {
    expect(check({ authorization_param_names: { state: 'nonce' } })[0]).toContain('authorization_param_names');
    expect(check({ authorization_code_param_in_callback: 'state' })).toEqual(['acme: authorization_code_param_in_callback cannot be "state": the callback uses that parameter for its own meaning.']);
  });

  it('refuses a token path that is not a dotted path of field names', () => {
    expect(check({ token_response_path: 'data..token' })[0]).toContain('token_response_path');
  });
});

describe('the authorization URL', () => {
  const request: AuthorizationRequest = {
    authorizationUrl: 'https://acme.example/authorize',
    clientId: 'client-1',
    callbackUrl: 'https://custody.example/oauth/callback',
    state: 'state-1',
    scopes: ['read'],
    userScopes: [],
    scopeSeparator: ' ',
    extraParams: [{ audience: 'api' }],
    codeChallenge: undefined,
  };

  it('carries RFC 6749\'s parameter names when the template renames none', () => {
    const query = Object.fromEntries(new URL(oauth2AuthorizationUrl(request)).searchParams);
    expect(query).toEqual({ response_type: 'code', client_id: 'client-1', redirect_uri: 'https://custody.example/oauth/callback', scope: 'read', state: 'state-1', audience: 'api' });
  });

  it('carries the provider\'s names, leaves out what it names false, and keeps state and the template\'s own parameters', () => {
    const query = Object.fromEntries(new URL(oauth2AuthorizationUrl({ ...request, paramNames: { client_id: 'app_id', response_type: false } })).searchParams);
    expect(query).toEqual({ app_id: 'client-1', redirect_uri: 'https://custody.example/oauth/callback', scope: 'read', state: 'state-1', audience: 'api' });
  });
});
