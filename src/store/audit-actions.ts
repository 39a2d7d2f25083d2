/** Every action the trail records; the dashboard's action filter accepts exactly these. */
export const AUDIT_ACTIONS = [
  'credentials.read',
  'credentials.use',
  'integration.credentials_read',
  'connection.create',
  'connection.reauthorize',
  'connection.update',
  'connection.refresh',
  'connection.refresh_failed',
  'connection.refresh_given_up',
  'connection.delete',
  'integration.create',
  'integration.update',
  'integration.delete',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];
