/**
 * OAuth's own request parameters under the names a provider gives them (a template's
 * `authorization_param_names` and `token_param_names`): a renamed parameter goes under its new name, one
 * named `false` is left out, and every other parameter goes as it is.
 */
export function withProviderNames(params: Record<string, string>, names: Partial<Record<string, string | false>> | undefined): Record<string, string> {
  if (!names) return params;
  const renamed: Record<string, string> = {};
  for (const [name, value] of Object.entries(params)) {
    const providerName = Object.hasOwn(names, name) ? names[name] : name;
    if (providerName === false || providerName === undefined) continue;
    renamed[providerName] = value;
  }
  return renamed;
}
