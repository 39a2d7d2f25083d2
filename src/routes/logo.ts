import type { ProviderCatalog } from '../providers/provider-catalog.js';

/**
 * A provider's logo for the dashboard and Connect UI: a coloured tile with its initial, made here so nothing
 * is fetched from a provider's site and no third-party artwork ships with the server.
 */
export function renderLogo(provider: string, catalog: ProviderCatalog): string {
  const name = catalog.get(provider)?.display_name ?? provider;
  const initial = (name.match(/[A-Za-z0-9]/)?.[0] ?? '?').toUpperCase();
  let hash = 0;
  for (const char of provider) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  const hue = hash % 360;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64" role="img" aria-label="${escapeXml(name)}"><rect width="64" height="64" rx="14" fill="hsl(${hue} 55% 45%)"/><text x="32" y="42" font-family="system-ui, sans-serif" font-size="30" font-weight="600" text-anchor="middle" fill="#fff">${escapeXml(initial)}</text></svg>`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (char) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[char] ?? char);
}
