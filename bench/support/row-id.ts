import pg from 'pg';

/** The primary key of a connection row, for the floor's `SELECT … WHERE id = $1`. */
export async function connectionRowId(connection: pg.ClientConfig, providerConfigKey: string, connectionId: string): Promise<number> {
  const client = new pg.Client(connection);
  await client.connect();
  try {
    const { rows } = await client.query<{ id: number }>('SELECT id FROM nango._nango_connections WHERE provider_config_key = $1 AND connection_id = $2', [providerConfigKey, connectionId]);
    const id = rows[0]?.id;
    if (id === undefined) throw new Error(`No connection row ${providerConfigKey}/${connectionId}.`);
    return id;
  } finally {
    await client.end();
  }
}
