/**
 * `npm run catalog:check [file]`: checks a provider catalog (the built-in providers.yaml, or an operator's
 * overlay file) without the network. `--discovery` also compares the entries of providers that publish
 * OpenID discovery metadata with it, which fetches each provider's /.well-known/openid-configuration: run it by
 * hand, never in tests or CI.
 */
import path from 'node:path';
import { checkCatalogFile } from '../src/providers/catalog-check.js';
import { compareWithDiscovery } from '../src/providers/discovery-check.js';
import { BUILT_IN_CATALOG, loadProviderCatalog } from '../src/providers/provider-catalog.js';

const args = process.argv.slice(2);
const discovery = args.includes('--discovery');
const file = path.resolve(args.find((arg) => !arg.startsWith('--')) ?? BUILT_IN_CATALOG);

const problems = checkCatalogFile(file);
if (problems.length === 0 && discovery) problems.push(...(await compareWithDiscovery(loadProviderCatalog(undefined, file))));
for (const problem of problems) console.error(problem);
if (problems.length > 0) {
  console.error(`\n${problems.length} problem${problems.length === 1 ? '' : 's'} in ${path.relative(process.cwd(), file) || file}.`);
  process.exitCode = 1;
} else {
  console.log(`${path.relative(process.cwd(), file) || file}: ${loadProviderCatalog(undefined, file).list().length} providers, no problems${discovery ? ' (discovery metadata compared)' : ''}.`);
}
