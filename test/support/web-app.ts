import { buildTestApp } from './test-app.js';

/** The real app (the dashboard and web UI are part of it), built like every other spec builds it. */
export const buildWebTestApp: typeof buildTestApp = (database, env, options) => buildTestApp(database, env, options);

export function dashboardAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
