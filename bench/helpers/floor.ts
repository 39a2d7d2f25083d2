import Fastify from 'fastify';
import pg from 'pg';

/**
 * The floor: the least a credential read can cost on this machine. A bare Fastify process, one route, one
 * pooled `SELECT` by primary key on the same PostgreSQL, with a pool as large as the server's default, answering
 * the columns a credential read answers (its id, keys, sealed credentials, configuration, metadata and dates: an
 * answer of about the read's size; the benchmark prints both sizes). No logging, no hooks, no validation: the
 * server's read routes are compared with it. A second route reads the list's page the same bare way, so the list
 * can also be compared with the least a page of 100 costs.
 */
const databaseUrl = process.env['FLOOR_DATABASE_URL'];
const poolMax = Number(process.env['FLOOR_POOL_MAX']);
if (!databaseUrl || !Number.isInteger(poolMax) || poolMax < 1) throw new Error('FLOOR_DATABASE_URL and FLOOR_POOL_MAX are required.');

const pool = new pg.Pool({ connectionString: databaseUrl, max: poolMax });
const app = Fastify({ logger: false });

app.get<{ Params: { id: string } }>('/connections/:id', async (request, reply) => {
  const { rows } = await pool.query(
    'SELECT id, connection_id, provider_config_key, credentials, connection_config, metadata, created_at, updated_at FROM nango._nango_connections WHERE id = $1',
    [Number(request.params.id)],
  );
  const row: unknown = rows[0];
  return row === undefined ? reply.status(404).send({ error: 'not found' }) : row;
});

// The list's floor: the same page the server's list reads (the newest 100, with each integration's provider), returned as it comes.
app.get('/connections', async () => {
  const { rows } = await pool.query(
    `SELECT c.id, c.connection_id, c.provider_config_key, k.provider, c.end_user, c.tags, c.metadata, c.created_at, c.last_refresh_failure, c.refresh_attempts
       FROM nango._nango_connections c LEFT JOIN nango._nango_configs k ON k.unique_key = c.provider_config_key AND k.account_id = c.account_id
      WHERE c.account_id = 0 ORDER BY c.created_at DESC, c.id DESC LIMIT 100`,
  );
  return { connections: rows };
});

await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
process.stdout.write(`LISTENING ${typeof address === 'object' && address ? address.port : 0}\n`);

process.once('SIGTERM', () => {
  void app
    .close()
    .then(() => pool.end())
    .finally(() => process.exit(0));
});
