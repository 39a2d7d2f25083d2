import { connectionConfigNames } from './interpolation.js';
import { templateUrls, type TemplateUrlFields } from './template-urls.js';

/**
 * Why a connection parameter cannot be used, or undefined when every one can: a value that fails its
 * declared pattern or format, or is not one of a closed set (a region picks a host, so only the documented
 * hosts may be reached), and a value the template puts into one of its URLs that, without a declared format,
 * carries characters which would change which host or path the URL names. `closedSetsOnly` checks just the
 * closed sets, for rows written before patterns existed.
 */
export function connectionParameterProblem(template: TemplateUrlFields, values: Record<string, unknown>, closedSetsOnly = false): string | undefined {
  for (const [name, field] of Object.entries(template.connection_config ?? {})) {
    const value = values[name];
    if (value === undefined || value === null || value === '') continue;
    if (closedSetsOnly && !field.enum) continue;
    const text = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
    if (field.enum && (text === undefined || !field.enum.includes(text))) {
      return `The connection parameter "${name}" must be one of ${field.enum.map((option) => `"${option}"`).join(', ')}.`;
    }
    const formatBroken = !field.pattern && text !== undefined && field.format !== undefined && !holdsFormat(field.format, text);
    if ((field.pattern && (text === undefined || !new RegExp(field.pattern).test(text))) || formatBroken) {
      return `The connection parameter "${name}" is not valid${field.example ? ` (for example "${field.example}")` : ''}.`;
    }
  }
  if (closedSetsOnly) return undefined;
  const inUrls = new Set(templateUrls(template).flatMap((url) => connectionConfigNames(url.text)));
  for (const [name, value] of Object.entries(values)) {
    if (inUrls.has(name) && typeof value === 'string' && /[\s/?#@\\]/.test(value) && !template.connection_config?.[name]?.format) {
      return `The connection parameter "${name}" contains characters that cannot go into the provider's URL.`;
    }
  }
  return undefined;
}

/** Formats that decide what a URL names: a host (with an optional port, nothing else) and an http(s) URL without credentials. */
function holdsFormat(format: string, value: string): boolean {
  try {
    if (format === 'hostname') return new URL(`https://${value}`).host === value.toLowerCase().replace(/:443$/, '');
    if (format === 'uri') {
      const url = new URL(value);
      return (url.protocol === 'https:' || url.protocol === 'http:') && url.username === '' && url.password === '';
    }
    return true;
  } catch {
    return false;
  }
}
