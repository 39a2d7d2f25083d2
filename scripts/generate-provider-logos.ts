/**
 * Writes provider-logos.json: for each provider of the built-in catalog whose brand the
 * simple-icons set (CC0) has, the brand's name, colour and SVG path. The server reads that file, not the
 * package, so it ships a few hundred kilobytes instead of the whole icon set. Run `npm run logos` after
 * adding providers; a test fails while the committed file differs from what this writes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { loadProviderCatalog, type ProviderCatalog } from '../src/providers/provider-catalog.js';
import { PROVIDER_LOGOS_FILE, type BrandLogo } from '../src/routes/logo.js';

interface SimpleIcon {
  title: string;
  slug: string;
  hex: string;
}

/**
 * Where the provider's key does not name its brand's icon: the icon's slug, or null where the set's icon of
 * that name is another brand's (or an old logo) and the lettered tile is right.
 */
const SLUG_OF: Record<string, string | null> = {
  'google-mail': 'gmail',
  'google-sheet': 'googlesheets',
  'sage-accounting': 'sage',
  'toggl-track': 'toggl',
  'survey-monkey': 'surveymonkey',
  'next-cloud-ocs': 'nextcloud',
  'auth0-cc': 'auth0',
  squareup: 'square',
  'squareup-sandbox': 'square',
  'square-sandbox': 'square',
  'active-campaign': 'activecampaign',
  'twitter-v2': 'x',
  twitter: 'x',
  'datadog-oauth': 'datadog',
};

export function brandLogos(catalog: ProviderCatalog, icons: SimpleIcon[]): Record<string, BrandLogo> {
  const bySlug = new Map(icons.map((icon) => [icon.slug, icon]));
  const iconsDir = path.join(SIMPLE_ICONS_DIR, 'icons');
  const logos: Record<string, BrandLogo> = {};
  for (const { name, template } of catalog.list()) {
    const slug = Object.hasOwn(SLUG_OF, name) ? SLUG_OF[name] : candidateSlug(name, template.display_name, bySlug);
    const icon = slug ? bySlug.get(slug) : undefined;
    if (!icon) continue;
    const svg = readFileSync(path.join(iconsDir, `${icon.slug}.svg`), 'utf8');
    const svgPath = /<path d="([^"]+)"/.exec(svg)?.[1];
    if (svgPath) logos[name] = { title: icon.title, hex: icon.hex, path: svgPath };
  }
  return logos;
}

/** The icon named like the provider (its key, or the key of the product family before the first `-`), when its title is the provider's brand. */
function candidateSlug(name: string, displayName: string, bySlug: Map<string, SimpleIcon>): string | undefined {
  const brand = normalise(displayName);
  for (const slug of [name.replace(/[-_.]/g, ''), name.replace(/-(sandbox|cc|basic|oauth|api-token|api-key|app|custom-app|self-managed|enterprise|demo)$/, '').replace(/[-_.]/g, '')]) {
    const icon = bySlug.get(slug);
    if (icon && brand.startsWith(normalise(icon.title))) return slug;
  }
  return undefined;
}

function normalise(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** The installed package's folder (its exports name neither its data file nor its package.json). */
const SIMPLE_ICONS_DIR = path.dirname(createRequire(import.meta.url).resolve('simple-icons'));

export function renderLogoFile(catalog: ProviderCatalog): string {
  const icons = JSON.parse(readFileSync(path.join(SIMPLE_ICONS_DIR, 'data', 'simple-icons.json'), 'utf8')) as SimpleIcon[];
  return `${JSON.stringify(brandLogos(catalog, icons), null, 1)}\n`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const catalog = loadProviderCatalog();
  const text = renderLogoFile(catalog);
  writeFileSync(PROVIDER_LOGOS_FILE, text);
  console.log(`Wrote ${path.relative(PACKAGE_ROOT, PROVIDER_LOGOS_FILE)} (${Object.keys(JSON.parse(text)).length} of ${catalog.list().length} providers have a brand logo).`);
}
