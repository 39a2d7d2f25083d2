import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AUDIT_ACTIONS } from '../../store/audit-actions.js';
import { identifier, parseRequestPart } from '../request-parsing.js';
import type { DashboardContext } from './dashboard-context.js';
import { READS_QUERY } from '../../plugins/query-guard.js';

const MAX_PAGE_SIZE = 200;
const cursor = z.string().regex(/^\d{1,19}$/, 'must be a cursor from a previous page (olderCursor or newerCursor)');
const instant = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date and time, such as 2026-01-31T09:00:00Z' });

const AuditLogQuery = z
  .object({
    integration: identifier.optional(),
    connectionId: identifier.optional(),
    action: z.enum(AUDIT_ACTIONS, { error: `must be one of ${AUDIT_ACTIONS.join(', ')}` }).optional(),
    // A prefix: "dashboard:" lists every dashboard user, "connect_session:" every connect session.
    principal: z.string().trim().min(1, 'must not be empty').max(255, 'must be at most 255 characters').optional(),
    since: instant.optional(),
    until: instant.optional(),
    before: cursor.optional(),
    after: cursor.optional(),
    limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(50),
  })
  .strict()
  .superRefine((query, context) => {
    if (query.before && query.after) context.addIssue({ code: 'custom', path: ['after'], message: 'give either before or after, not both' });
    if (query.since && query.until && new Date(query.since) >= new Date(query.until)) context.addIssue({ code: 'custom', path: ['until'], message: 'must be later than since' });
  });

/**
 * `GET /api/v1/audit-log`: the dashboard's view of the audit trail, newest first, filtered, one page at a time
 * by keyset cursor (`olderCursor` → `before`, `newerCursor` → `after`), so new entries never shift a page.
 */
export function registerDashboardAuditLogRoutes(app: FastifyInstance, context: DashboardContext): void {
  app.get('/api/v1/audit-log', READS_QUERY, async (request) => {
    const query = parseRequestPart(AuditLogQuery, request.query, 'invalid_query_params');
    const page = await context.auditLog.page(
      {
        ...(query.integration ? { providerConfigKey: query.integration } : {}),
        ...(query.connectionId ? { connectionId: query.connectionId } : {}),
        ...(query.action ? { action: query.action } : {}),
        ...(query.principal ? { principalPrefix: query.principal } : {}),
        ...(query.since ? { since: new Date(query.since) } : {}),
        ...(query.until ? { until: new Date(query.until) } : {}),
        limit: query.limit,
      },
      { ...(query.before ? { before: query.before } : {}), ...(query.after ? { after: query.after } : {}) },
    );
    return {
      entries: page.entries.map((entry) => ({
        id: entry.id,
        at: entry.at.toISOString(),
        action: entry.action,
        route: entry.route,
        principal: entry.principal,
        providerConfigKey: entry.providerConfigKey,
        connectionId: entry.connectionId,
        details: entry.details ?? {},
        count: entry.count,
      })),
      olderCursor: page.olderCursor,
      newerCursor: page.newerCursor,
      limit: query.limit,
      retentionDays: context.config.auditRetentionDays,
    };
  });
}
