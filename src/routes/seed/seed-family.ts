import type { FastifyInstance } from 'fastify';
import type { Container } from '../../app/container.js';
import { secretKeyGuard } from '../../plugins/secret-key-auth.js';
import { adoptFamily, SEED_FAMILY } from '../route-families.js';
import { registerSeedConfigRoutes } from './config-routes.js';
import { registerSeedConnectionRoutes } from './connection-routes.js';

/**
 * The seed-era API (Nango v0.16): the secret key (Basic or Bearer) and `{error, type, payload}` errors.
 * `/connection` and `/connection/:id` stay the seed handlers although modern Nango aliases them to
 * `/connections`: seed clients need the seed shape.
 */
export async function registerSeedFamily(app: FastifyInstance, container: Container): Promise<void> {
  await app.register(async (seed) => {
    adoptFamily(seed, SEED_FAMILY);
    seed.addHook('onRequest', secretKeyGuard(container.config.secretKey));
    registerSeedConfigRoutes(seed, container.services.integrations);
    registerSeedConnectionRoutes(seed, container.services.connections, {
      authModeOf: async (providerConfigKey) => container.providers.get((await container.services.integrations.get(providerConfigKey)).provider)?.auth_mode,
      refreshTokensByDefault: container.config.seedRefreshTokens,
    });
  });
}
