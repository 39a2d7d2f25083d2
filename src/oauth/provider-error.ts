/**
 * A provider's token endpoint failed or refused. Three audiences, three texts: `publicMessage` for the end
 * user (the kind of failure and the provider's error code, never its words), `message` for the operator's API
 * answers and logs (with the provider's error description), and `answer`, the provider's whole answer with
 * token-looking fields blanked, for the debug log only.
 */
export type ProviderFailureKind = 'rejected' | 'unreachable' | 'timeout' | 'garbage';

export interface ProviderErrorDetails {
  status?: number;
  error?: string;
  error_description?: string;
  error_uri?: string;
}

/** An OAuth error code (`invalid_grant`), as opposed to free text a provider put in its `error` field. */
const ERROR_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;

export class ProviderError extends Error {
  override name = 'ProviderError';

  constructor(
    readonly kind: ProviderFailureKind,
    message: string,
    readonly details: ProviderErrorDetails = {},
    /** The provider's answer, redacted (see `redactProviderAnswer`); for the debug log only. */
    readonly answer?: string,
  ) {
    super(message);
  }

  /** The provider's error code (`invalid_grant`), when its `error` field holds one rather than free text. */
  get code(): string | undefined {
    return this.details.error !== undefined && ERROR_CODE.test(this.details.error) ? this.details.error : undefined;
  }

  /** What the end user may see: nothing of the provider's answer but its error code. */
  get publicMessage(): string {
    if (this.kind !== 'rejected') return this.message;
    const reason = this.code ?? (this.details.status !== undefined ? `HTTP ${this.details.status}` : undefined);
    return `The provider refused the token request${reason ? ` (${reason})` : ''}; the server's log says more.`;
  }
}

/** Field names whose values are blanked in a logged answer. */
const SECRET_FIELD = /^(code|key|.*(token|secret|password|passwd|api_?key|private_?key|assertion|signature|verifier|cookie|credential|session).*)$/i;
const LONGEST_LOGGED_ANSWER = 2000;

/** A provider's answer for the debug log: JSON and form fields that can hold a secret blanked, cut to 2,000 characters. */
export function redactProviderAnswer(text: string): string {
  const trimmed = text.trim();
  let redacted: string;
  try {
    redacted = JSON.stringify(blankSecrets(JSON.parse(trimmed)));
  } catch {
    if (/^[\w.%-]+=[^&]*(&[\w.%-]+=[^&]*)*$/.test(trimmed)) {
      const params = new URLSearchParams(trimmed);
      for (const name of [...params.keys()]) if (SECRET_FIELD.test(name)) params.set(name, '[REDACTED]');
      redacted = params.toString();
    } else {
      // Free text (an HTML error page): anything written like `access_token=…` or `"secret": "…"` is blanked.
      redacted = trimmed.replace(/((?:token|secret|password|passwd|api_?key|code|signature|assertion)[\w-]*["']?\s*[:=]\s*["']?)[^"'&\s,;<>}]+/gi, '$1[REDACTED]');
    }
  }
  return redacted.length > LONGEST_LOGGED_ANSWER ? `${redacted.slice(0, LONGEST_LOGGED_ANSWER)}… (${redacted.length} characters in all)` : redacted;
}

function blankSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(blankSecrets);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, child]) => [key, SECRET_FIELD.test(key) && (typeof child === 'string' || typeof child === 'number') ? '[REDACTED]' : blankSecrets(child)]),
  );
}
