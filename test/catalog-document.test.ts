import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { catalogHash, parseCatalogText } from '../src/providers/catalog-document.js';
import { BUILT_IN_CATALOG } from '../src/providers/provider-catalog.js';

/**
 * The server reads the catalog the build parsed (dist/providers.json) instead of parsing providers.yaml at every
 * start, but only when it was made from exactly the text in providers.yaml now.
 */
describe('the precompiled provider catalog', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'catalog-document-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const text = readFileSync(BUILT_IN_CATALOG, 'utf8');
  const precompiled = (name: string, sha256: string, document: unknown): string => {
    const file = path.join(dir, name);
    writeFileSync(file, JSON.stringify({ sha256, document }));
    return file;
  };

  it('is what the server reads when it was made from the same providers.yaml', () => {
    const marked = { marker: { display_name: 'From the precompiled file' } };
    expect(parseCatalogText(text, precompiled('same.json', catalogHash(text), marked))).toEqual(marked);
  });

  it('is ignored once providers.yaml was edited after the build: the YAML is parsed instead', () => {
    const edited = `${text}\nadded-after-build:\n  display_name: Added\n  auth_mode: API_KEY\n`;
    const document = parseCatalogText(edited, precompiled('stale.json', catalogHash(text), { stale: {} }));
    expect(document).toEqual(parse(edited));
    expect(document).toHaveProperty('added-after-build');
  });

  it('is not needed: without a build, or with an unreadable file, the YAML is parsed', () => {
    expect(parseCatalogText(text, path.join(dir, 'missing.json'))).toEqual(parse(text));
    const garbled = path.join(dir, 'garbled.json');
    writeFileSync(garbled, '{"sha256": ');
    expect(parseCatalogText(text, garbled)).toEqual(parse(text));
  });

  it('holds the same document as the YAML parser gives for the built-in catalog', () => {
    expect(JSON.parse(JSON.stringify(parse(text)))).toEqual(parse(text));
  });
});
