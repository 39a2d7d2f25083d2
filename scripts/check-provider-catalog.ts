/**
 * `npm run catalog:check`: checks the built-in providers.yaml without the network; `-- --overlay <file>`
 * checks an operator's overlay file (NANGO_PROVIDERS_FILE) merged over it, as the server loads it. `--discovery` also compares the entries of providers that publish
 * OpenID discovery metadata with it, which fetches each provider's /.well-known/openid-configuration: run it by
 * hand, never in tests or CI.
 */
import path from 'node:path';
import { checkCatalogFile, checkOverlayFile } from '../src/providers/catalog-check.js';
import { compareWithDiscovery } from '../src/providers/discovery-check.js';
import { BUILT_IN_CATALOG, loadProviderCatalog } from '../src/providers/provider-catalog.js';

const args = process.argv.slice(2);
const discovery = args.includes('--discovery');
const overlayAt = args.indexOf('--overlay');
const overlay = overlayAt >= 0 ? args[overlayAt + 1] : undefined;
if (overlayAt >= 0 && !overlay) {
  console.error('--overlay needs the path of the overlay file.');
  process.exit(2);
}
const file = overlay ? path.resolve(overlay) : BUILT_IN_CATALOG;
const problems = overlay ? checkOverlayFile(file) : checkCatalogFile(file);
const catalog = () => (overlay ? loadProviderCatalog(file) : loadProviderCatalog());
if (problems.length === 0 && discovery) problems.push(...(await compareWithDiscovery(catalog())));
for (const problem of problems) console.error(problem);
if (problems.length > 0) {
  console.error(`\n${problems.length} problem${problems.length === 1 ? '' : 's'} in ${path.relative(process.cwd(), file) || file}.`);
  process.exitCode = 1;
} else {
  console.log(`${path.relative(process.cwd(), file) || file}: ${catalog().list().length} providers${overlay ? ' with the built-in ones' : ''}, no problems${discovery ? ' (discovery metadata compared)' : ''}.`);
}
