import type Nango from '@nangohq/frontend';
import type { AuthOptions, ConnectionConfig } from '@nangohq/frontend';
import { useId, useState, type FormEvent, type ReactNode } from 'react';
import { authModeFacts, type AuthMode } from './auth-modes';
import { Button, Banner } from './ui';

/** A field of a provider template (`connection_config` / `credentials` in providers.yaml). */
export interface FieldSpec {
  title: string;
  description?: string;
  example?: string;
  pattern?: string;
  /** `pem`: a PEM block (a certificate, a private key), typed as several lines or loaded from a file. */
  format?: 'hostname' | 'uri' | 'uuid' | 'email' | 'pem';
  optional?: boolean;
  default_value?: string;
  secret?: boolean;
  hidden?: boolean;
  order?: number;
  prefix?: string;
  suffix?: string;
  /** A closed set of values (a region): offered as a choice instead of free text. */
  enum?: string[];
}

export interface ProviderShape {
  authMode: AuthMode | string;
  connectionConfig: Record<string, FieldSpec>;
  credentials: Record<string, FieldSpec>;
  /** Parameters the provider's URLs need, declared or not. */
  paramNames: string[];
}

export interface FormField extends FieldSpec {
  name: string;
  group: 'params' | 'credentials';
}

/** The fields an end user fills in for this provider: its connection parameters (less those already set) and, for non-OAuth modes, its credentials. */
export function formFields(provider: ProviderShape, preset: Record<string, unknown> = {}): FormField[] {
  const params = new Map<string, FieldSpec>(Object.entries(provider.connectionConfig));
  for (const name of provider.paramNames) if (!params.has(name)) params.set(name, { title: humanise(name) });
  const fields: FormField[] = [...params]
    .filter(([name, spec]) => !spec.hidden && preset[name] === undefined)
    .map(([name, spec]) => ({ ...spec, name, group: 'params' as const }));
  const facts = authModeFacts(provider.authMode);
  const credentialSpecs: Record<string, FieldSpec> = Object.keys(provider.credentials).length > 0 ? provider.credentials : { ...(facts?.defaultCredentialFields ?? {}) };
  // Only a mode whose end user types credentials (a form) asks for them; a popup or no authentication asks none.
  if (facts === undefined || facts.connect === 'form') {
    for (const [name, spec] of Object.entries(credentialSpecs)) if (!spec.hidden) fields.push({ ...spec, name, group: 'credentials' });
  }
  return fields.sort((a, b) => (a.order ?? 1000) - (b.order ?? 1000));
}

function humanise(name: string): string {
  const words = name.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const FORMATS: Record<string, { test: (value: string) => boolean; message: string }> = {
  uri: { test: (value) => /^https?:\/\/[^\s]+$/i.test(value), message: 'Enter a full address starting with https://' },
  email: { test: (value) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value), message: 'Enter an email address such as name@example.com' },
  hostname: { test: (value) => /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(value), message: 'Enter a host name such as api.example.com, without https://' },
  pem: { test: (value) => /^-----BEGIN ([A-Z0-9 ]+)-----\s[\s\S]+\s-----END \1-----$/.test(value), message: 'Paste the whole PEM block, from its -----BEGIN line to its -----END line, or load the file' },
  uuid: { test: (value) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value), message: 'Enter an ID in the form 123e4567-e89b-12d3-a456-426614174000' },
};

export function validateField(field: FormField, value: string): string | undefined {
  const trimmed = value.trim();
  if (!trimmed) return field.optional ? undefined : `${field.title} is required.`;
  if (field.format && FORMATS[field.format] && !FORMATS[field.format]!.test(trimmed)) return FORMATS[field.format]!.message + '.';
  if (field.pattern) {
    try {
      if (!new RegExp(field.pattern).test(trimmed)) return `${field.title} does not have the expected form${field.example ? ` (for example ${field.example})` : ''}.`;
    } catch {
      // A pattern the browser cannot compile is the catalog's problem, not the user's.
    }
  }
  return undefined;
}

export interface AuthValues {
  params: Record<string, string>;
  credentials: Record<string, string>;
}

/** What the frontend SDK is called with for one auth mode: `create` (no authentication) or `auth`, and its options. */
export type AuthCall = { method: 'create'; options: ConnectionConfig } | { method: 'auth'; options: AuthOptions };

/**
 * How the SDK is called for each auth mode: a popup for OAuth, a POST to `/api-auth/*` or `/oauth2/auth` for the
 * others, `create` when there is nothing to authenticate. The one place that knows it: connecting (runAuth) and the
 * integration page's code snippet both use it; what each mode sends is its facts' `sdkCredentials`.
 */
export function authCall(authMode: AuthMode | string, values: AuthValues, options: { detectClosedAuthWindow?: boolean } = {}): AuthCall {
  const facts = authModeFacts(authMode);
  // Credentials the template declares beyond the SDK's own travel as params (the server keeps them as credentials).
  const extra = facts?.extraCredentialsAsParams ? Object.entries(values.credentials).filter(([field, value]) => !facts.sdkCredentials.fields.includes(field) && value !== '') : [];
  const params = extra.length > 0 ? { ...values.params, ...Object.fromEntries(extra) } : values.params;
  if (facts?.connect === 'none') return { method: 'create', options: { params } };
  if (facts?.connect === 'form') {
    // A field left empty is sent empty, or (client credentials: the integration's own client is used) sent as undefined, an empty body.
    const sent = facts.sdkCredentials.fields.map((field) => [field, facts.sdkCredentials.empty === 'send' ? (values.credentials[field] ?? '') : values.credentials[field] || undefined]);
    // The SDK types one shape per mode; this object is the shape of this mode.
    return { method: 'auth', options: { params, credentials: Object.fromEntries(sent) as ConnectionConfig['credentials'] } };
  }
  return { method: 'auth', options: { params, ...(options.detectClosedAuthWindow ? { detectClosedAuthWindow: true } : {}) } };
}

export function runAuth(nango: Nango, integration: string, authMode: string, values: AuthValues, options: { detectClosedAuthWindow?: boolean } = {}) {
  const call = authCall(authMode, values, options);
  return call.method === 'create' ? nango.create(integration, call.options) : nango.auth(integration, call.options);
}

/**
 * The form an end user (or the operator's "Try it") fills in before connecting. `onSubmit` must start the
 * popup synchronously (popup blockers allow only windows opened during the click).
 */
export function ProviderForm({
  fields,
  submitLabel,
  busy,
  onSubmit,
  intro,
  error,
}: {
  fields: FormField[];
  submitLabel: string;
  busy: boolean;
  onSubmit: (values: AuthValues) => void;
  intro?: ReactNode;
  error?: ReactNode;
}) {
  const formId = useId();
  const [values, setValues] = useState<Record<string, string>>(() => Object.fromEntries(fields.map((field) => [`${field.group}.${field.name}`, field.default_value ?? ''])));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [shown, setShown] = useState<Record<string, boolean>>({});

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const found: Record<string, string> = {};
    for (const field of fields) {
      const key = `${field.group}.${field.name}`;
      const problem = validateField(field, values[key] ?? '');
      if (problem) found[key] = problem;
    }
    setErrors(found);
    const first = Object.keys(found)[0];
    if (first) {
      document.getElementById(`${formId}-${first}`)?.focus();
      return;
    }
    const result: AuthValues = { params: {}, credentials: {} };
    for (const field of fields) {
      const value = (values[`${field.group}.${field.name}`] ?? '').trim();
      if (value) result[field.group][field.name] = field.group === 'credentials' && (field.secret || field.format === 'pem') ? (values[`${field.group}.${field.name}`] ?? '') : value;
    }
    onSubmit(result);
  };

  return (
    <form onSubmit={submit} noValidate className="stack">
      {intro}
      {fields.length > 0 ? (
        <div>
          {fields.map((field) => {
            const key = `${field.group}.${field.name}`;
            const id = `${formId}-${key}`;
            const hintId = `${id}-hint`;
            const errorId = `${id}-error`;
            const describedBy = [field.description ? hintId : '', errors[key] ? errorId : ''].filter(Boolean).join(' ') || undefined;
            const input = field.enum ? (
              <select
                id={id}
                name={key}
                className="input"
                value={values[key] ?? ''}
                aria-invalid={errors[key] ? true : undefined}
                aria-describedby={describedBy}
                required={!field.optional}
                onChange={(event) => {
                  setValues((current) => ({ ...current, [key]: event.target.value }));
                  if (errors[key]) setErrors((current) => ({ ...current, [key]: '' }));
                }}
              >
                <option value="">{field.optional ? '(default)' : 'Choose…'}</option>
                {field.enum.map((option) => (
                  <option key={option} value={option}>
                    {option}
                  </option>
                ))}
              </select>
            ) : field.format === 'pem' ? (
              <textarea
                id={id}
                name={key}
                className={`input mono${field.secret && !shown[key] ? ' masked' : ''}`}
                rows={6}
                value={values[key] ?? ''}
                placeholder={field.secret ? '-----BEGIN PRIVATE KEY-----' : '-----BEGIN CERTIFICATE-----'}
                autoComplete="off"
                spellCheck={false}
                aria-invalid={errors[key] ? true : undefined}
                aria-describedby={describedBy}
                required={!field.optional}
                onChange={(event) => {
                  setValues((current) => ({ ...current, [key]: event.target.value }));
                  if (errors[key]) setErrors((current) => ({ ...current, [key]: '' }));
                }}
              />
            ) : (
              <input
                id={id}
                name={key}
                className="input"
                type={field.secret && !shown[key] ? 'password' : field.format === 'email' ? 'email' : field.format === 'uri' ? 'url' : 'text'}
                value={values[key] ?? ''}
                placeholder={field.example ?? ''}
                autoComplete={field.secret ? 'off' : field.name === 'username' ? 'username' : 'off'}
                spellCheck={false}
                aria-invalid={errors[key] ? true : undefined}
                aria-describedby={[field.description ? hintId : '', errors[key] ? errorId : ''].filter(Boolean).join(' ') || undefined}
                required={!field.optional}
                onChange={(event) => {
                  setValues((current) => ({ ...current, [key]: event.target.value }));
                  if (errors[key]) setErrors((current) => ({ ...current, [key]: '' }));
                }}
              />
            );
            return (
              <div className="field" key={key}>
                <label htmlFor={id}>
                  {field.title} {field.optional ? <span className="optional">(optional)</span> : null}
                </label>
                {field.format === 'pem' ? (
                  <div className="pem-field">
                    {input}
                    <div className="input-group">
                      <input
                        id={`${id}-file`}
                        type="file"
                        hidden
                        accept=".pem,.crt,.cer,.key,text/plain"
                        onChange={(event) => {
                          const file = event.target.files?.[0];
                          if (!file) return;
                          void file.text().then((text) => {
                            setValues((current) => ({ ...current, [key]: text }));
                            setErrors((current) => ({ ...current, [key]: '' }));
                          });
                        }}
                      />
                      <Button onClick={() => document.getElementById(`${id}-file`)?.click()} aria-label={`Load from file: ${field.title}`}>
                        Load from file
                      </Button>
                      {field.secret ? (
                        <Button onClick={() => setShown((current) => ({ ...current, [key]: !current[key] }))} aria-pressed={Boolean(shown[key])} aria-label={shown[key] ? `Hide ${field.title}` : `Show ${field.title}`}>
                          {shown[key] ? 'Hide' : 'Show'}
                        </Button>
                      ) : null}
                    </div>
                  </div>
                ) : field.prefix || field.suffix ? (
                  <div className="input-affix">
                    {field.prefix ? <span className="affix">{field.prefix}</span> : null}
                    {input}
                    {field.suffix ? <span className="affix">{field.suffix}</span> : null}
                  </div>
                ) : field.secret ? (
                  <div className="input-group">
                    {input}
                    <Button onClick={() => setShown((current) => ({ ...current, [key]: !current[key] }))} aria-pressed={Boolean(shown[key])} aria-label={shown[key] ? `Hide ${field.title}` : `Show ${field.title}`}>
                      {shown[key] ? 'Hide' : 'Show'}
                    </Button>
                  </div>
                ) : (
                  input
                )}
                {field.description ? (
                  <span className="hint" id={hintId}>
                    {field.description}
                  </span>
                ) : null}
                {errors[key] ? (
                  <span className="field-error" id={errorId}>
                    {errors[key]}
                  </span>
                ) : null}
              </div>
            );
          })}
        </div>
      ) : null}
      {error ? (
        <Banner tone="error" role="alert">
          {error}
        </Banner>
      ) : null}
      <Button type="submit" variant="primary" block busy={busy}>
        {submitLabel}
      </Button>
    </form>
  );
}
