import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';
import type { ProviderCatalog } from '../providers/provider-catalog.js';

/** Brand logos of the catalog's providers, taken from the simple-icons set (CC0) by scripts/generate-provider-logos.ts. */
export const PROVIDER_LOGOS_FILE = path.join(PACKAGE_ROOT, 'provider-logos.json');

export interface BrandLogo {
  /** The brand's name in the icon set. */
  title: string;
  /** The brand colour, six hex digits. */
  hex: string;
  /** The glyph: one SVG path on a 24 × 24 grid. */
  path: string;
}

/**
 * A provider's logo for the dashboard and Connect UI, made here so nothing is fetched from a provider's site
 * or a CDN: the brand's glyph on a tile of its colour where the icon set has the brand, otherwise a coloured
 * tile with the provider's initial. The logo file is read on the first request, not at start, and each
 * rendered logo is kept.
 */
export class LogoRenderer {
  private brands: Record<string, BrandLogo> | undefined;
  private readonly rendered = new Map<string, string>();

  constructor(
    private readonly catalog: ProviderCatalog,
    private readonly logosFile: string = PROVIDER_LOGOS_FILE,
  ) {}

  render(provider: string): string {
    const known = this.catalog.has(provider);
    const cached = known ? this.rendered.get(provider) : undefined;
    if (cached) return cached;
    const brand = known ? this.brandOf(provider) : undefined;
    const svg = brand ? brandTile(provider, brand, this.catalog) : letteredTile(provider, this.catalog);
    // Only the catalog's names are kept, so requests for made-up names cannot grow the cache.
    if (known) this.rendered.set(provider, svg);
    return svg;
  }

  private brandOf(provider: string): BrandLogo | undefined {
    if (!this.brands) {
      try {
        this.brands = JSON.parse(readFileSync(this.logosFile, 'utf8')) as Record<string, BrandLogo>;
      } catch {
        // Without the file every provider gets its lettered tile; nothing a request could fix.
        this.brands = {};
      }
    }
    return Object.hasOwn(this.brands, provider) ? this.brands[provider] : undefined;
  }
}

function brandTile(provider: string, brand: BrandLogo, catalog: ProviderCatalog): string {
  const name = catalog.get(provider)?.display_name ?? brand.title;
  const background = `#${brand.hex}`;
  // A light brand colour (Mailchimp's yellow, Notion's white) takes a dark glyph.
  const glyph = luminance(brand.hex) > 0.6 ? '#1f2328' : '#ffffff';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64" role="img" aria-label="${escapeXml(name)}"><rect width="64" height="64" rx="14" fill="${background}"${luminance(brand.hex) > 0.9 ? ' stroke="#d0d7de" stroke-width="2"' : ''}/><g transform="translate(14 14) scale(1.5)"><path fill="${glyph}" d="${escapeXml(brand.path)}"/></g></svg>`;
}

function letteredTile(provider: string, catalog: ProviderCatalog): string {
  const name = catalog.get(provider)?.display_name ?? provider;
  const initial = (name.match(/[A-Za-z0-9]/)?.[0] ?? '?').toUpperCase();
  let hash = 0;
  for (const char of provider) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  const hue = hash % 360;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64" role="img" aria-label="${escapeXml(name)}"><rect width="64" height="64" rx="14" fill="hsl(${hue} 55% 45%)"/><text x="32" y="42" font-family="system-ui, sans-serif" font-size="30" font-weight="600" text-anchor="middle" fill="#fff">${escapeXml(initial)}</text></svg>`;
}

/** Relative luminance (0 black … 1 white) of a six-digit hex colour. */
function luminance(hex: string): number {
  const [r, g, b] = [0, 2, 4].map((offset) => {
    const channel = parseInt(hex.slice(offset, offset + 2), 16) / 255;
    return channel <= 0.03928 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * (r ?? 0) + 0.7152 * (g ?? 0) + 0.0722 * (b ?? 0);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (char) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[char] ?? char);
}
