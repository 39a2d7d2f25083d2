import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;
type ValidatorFactory = NonNullable<CompilersFactory['buildValidator']>;
type SerializerFactory = NonNullable<CompilersFactory['buildSerializer']>;

/** Fastify's own dependencies, resolved from Fastify's folder as Fastify itself would. */
const requireFromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));

/**
 * Fastify's JSON Schema compilers (ajv, fast-json-stringify), required by the first route that declares a JSON
 * Schema rather than by every start: the routes parse with zod, so a running server never needs them. Fastify
 * builds the same compilers from these factories when a route does declare one; the one difference is that a
 * `headers` schema is handed over as written, without its keys lower-cased.
 */
export const lazySchemaCompilers: CompilersFactory = {
  // The factory types are overloaded (ajv and JTD); the arguments are handed over untouched, whichever applies.
  buildValidator: forwardTo('@fastify/ajv-compiler') as ValidatorFactory,
  buildSerializer: forwardTo('@fastify/fast-json-stringify-compiler') as SerializerFactory,
};

/** A factory that requires Fastify's module on its first call, then builds as that module's default factory does. */
function forwardTo(module: string): (...args: unknown[]) => unknown {
  let factory: ((...args: unknown[]) => unknown) | undefined;
  return (...args) => {
    factory ??= (requireFromFastify(module) as () => (...args: unknown[]) => unknown)();
    return factory(...args);
  };
}
