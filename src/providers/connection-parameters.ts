import type { ProviderTemplate } from './provider-schema.js';

/**
 * Why a connection parameter cannot be used, or undefined when every one can: a value that fails its
 * declared pattern, or is not one of a closed set (a region picks a host, so only the documented hosts
 * may be reached). `closedSetsOnly` checks just the closed sets, for rows written before patterns existed.
 */
export function connectionParameterProblem(template: Pick<ProviderTemplate, 'connection_config'>, values: Record<string, unknown>, closedSetsOnly = false): string | undefined {
  for (const [name, field] of Object.entries(template.connection_config ?? {})) {
    const value = values[name];
    if (value === undefined || value === null || value === '') continue;
    if (closedSetsOnly && !field.enum) continue;
    const text = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
    if (field.enum && (text === undefined || !field.enum.includes(text))) {
      return `The connection parameter "${name}" must be one of ${field.enum.map((option) => `"${option}"`).join(', ')}.`;
    }
    if (field.pattern && (text === undefined || !new RegExp(field.pattern).test(text))) {
      return `The connection parameter "${name}" is not valid${field.example ? ` (for example "${field.example}")` : ''}.`;
    }
  }
  return undefined;
}
