import pg from 'pg';
import { Cipher } from '../../src/crypto/aes-gcm.js';
import { createKnex } from '../../src/db/database.js';
import { ConnectionsStore } from '../../src/store/connections-store.js';

/**
 * The plans PostgreSQL picks for the store's own queries: the store is run once against the database with
 * its SQL captured, then each statement is run again under `EXPLAIN (ANALYZE, FORMAT JSON)`. So the plans
 * are those of the SQL the server really sends, not of a hand-written copy that could drift from it.
 */
export interface QueryPlan {
  label: string;
  /** The plan's nodes in pre-order, e.g. `Limit › Sort (top-N heapsort) › Seq Scan on _nango_connections`. */
  nodes: string;
  sequentialScanOfConnections: boolean;
  executionMs: number;
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Sort Method'?: string;
  Plans?: PlanNode[];
}

interface CapturedQuery {
  sql: string;
  bindings?: unknown[];
}

export async function planStoreQueries(
  connection: pg.ClientConfig,
  encryptionKey: string,
  queries: { label: string; run: (store: ConnectionsStore) => Promise<unknown> }[],
): Promise<QueryPlan[]> {
  const knex = createKnex(connection, 0, 1);
  const captured: { label: string; query: CapturedQuery }[] = [];
  let current = '';
  // knex emits every statement with positional ($1) placeholders, ready to be sent again by pg.
  knex.on('query', (query: CapturedQuery) => captured.push({ label: current, query }));
  try {
    const store = new ConnectionsStore(knex, new Cipher(encryptionKey));
    for (const { label, run } of queries) {
      current = label;
      await run(store);
    }
  } finally {
    await knex.destroy();
  }
  const client = new pg.Client(connection);
  await client.connect();
  try {
    await client.query('SET search_path TO nango, public');
    const plans: QueryPlan[] = [];
    for (const { label, query } of captured) {
      const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode; 'Execution Time': number }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${query.sql}`, query.bindings ?? []);
      const explained = rows[0]?.['QUERY PLAN'][0];
      if (!explained) throw new Error(`EXPLAIN returned nothing for ${query.sql}`);
      const nodes = preOrder(explained.Plan);
      plans.push({
        label,
        nodes: nodes.map(describeNode).join(' › '),
        sequentialScanOfConnections: nodes.some((node) => node['Node Type'] === 'Seq Scan' && node['Relation Name'] === '_nango_connections'),
        executionMs: explained['Execution Time'],
      });
    }
    return plans;
  } finally {
    await client.end();
  }
}

function preOrder(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(preOrder)];
}

function describeNode(node: PlanNode): string {
  let text = node['Node Type'];
  if (node['Index Name']) text += ` using ${node['Index Name']}`;
  if (node['Relation Name']) text += ` on ${node['Relation Name']}`;
  if (node['Sort Method']) text += ` (${node['Sort Method']})`;
  return text;
}
