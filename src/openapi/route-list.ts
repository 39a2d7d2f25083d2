import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered, as method and URL pattern: the OpenAPI spec checks that the document covers them. */
    routeList: { method: string; url: string }[];
  }
}

/** Records every route registered from now on in `app.routeList`. */
export function recordRoutes(app: FastifyInstance): void {
  const routes: { method: string; url: string }[] = [];
  app.decorate('routeList', routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
}
