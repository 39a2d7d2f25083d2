import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Yaml from 'yaml';
import { PACKAGE_ROOT } from '../package-root.js';

/**
 * The built-in catalog as the build parsed it (scripts/build.mjs): `{ sha256, document }`, where sha256 is the
 * hash of the providers.yaml it was parsed from. Parsing the YAML at every start costs about a second on a
 * small machine and leaves tens of MiB of parser garbage in the heap; JSON.parse of the same document costs
 * a few milliseconds.
 */
const PRECOMPILED_CATALOG = path.join(PACKAGE_ROOT, 'dist', 'providers.json');

/**
 * The document of a catalog file's text: the precompiled one when it was made from exactly this text (an
 * edited providers.yaml, an overlay, or no build at all falls back to parsing), else the YAML parser's,
 * loaded only then.
 */
export function parseCatalogText(text: string, precompiledFile: string = PRECOMPILED_CATALOG): unknown {
  return precompiledDocument(text, precompiledFile) ?? yaml().parse(text);
}

function precompiledDocument(text: string, precompiledFile: string): unknown {
  let precompiled: unknown;
  try {
    precompiled = JSON.parse(readFileSync(precompiledFile, 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof precompiled !== 'object' || precompiled === null) return undefined;
  const { sha256, document } = precompiled as { sha256?: unknown; document?: unknown };
  return sha256 === catalogHash(text) ? document : undefined;
}

/** The hash the build writes beside the precompiled document; scripts/build.mjs computes the same one. */
export function catalogHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The YAML parser is required on first use: a start on the precompiled catalog without an overlay never loads it. */
function yaml(): typeof Yaml {
  return createRequire(import.meta.url)('yaml') as typeof Yaml;
}
