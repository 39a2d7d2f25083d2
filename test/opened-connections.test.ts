import { describe, expect, it } from 'vitest';
import type { ConnectionRecord, ConnectionRow, SealedConnection } from '../src/store/connection-rows.js';
import { OpenedConnections } from '../src/store/opened-connections.js';

/**
 * A row the connection cache keeps is decrypted and parsed once; what the readers get cannot change what the
 * next reader is given, and a row the cache replaced (a rotated token, a change another process announced) is
 * opened anew.
 */
function sealedRow(token: string): SealedConnection {
  return { connection: { connection_id: 'user-1', credentials: { sealed: token } } as unknown as ConnectionRow, config: undefined };
}

function counted(): { open: (row: ConnectionRow) => ConnectionRecord; opens: () => number } {
  let opens = 0;
  return {
    open: (row) => {
      opens++;
      const sealed = (row.credentials as { sealed: string }).sealed;
      return { ...row, credentials: { type: 'OAUTH2', access_token: sealed, raw: { access_token: sealed } } } as unknown as ConnectionRecord;
    },
    opens: () => opens,
  };
}

describe('opened connections', () => {
  it('opens a kept row once however often it is read', () => {
    const opened = new OpenedConnections();
    const { open, opens } = counted();
    const row = sealedRow('token-1');
    for (let read = 0; read < 5; read++) expect(opened.of(row, open).credentials).toMatchObject({ access_token: 'token-1' });
    expect(opens()).toBe(1);
  });

  it('gives each read a record of its own', () => {
    const opened = new OpenedConnections();
    const { open } = counted();
    const row = sealedRow('token-1');
    const first = opened.of(row, open);
    (first as { connection_id: string }).connection_id = 'changed by a reader';
    expect(opened.of(row, open).connection_id).toBe('user-1');
  });

  it('refuses a change to the credentials it shares between reads, however deep', () => {
    const opened = new OpenedConnections();
    const { open } = counted();
    const row = sealedRow('token-1');
    const credentials = opened.of(row, open).credentials as unknown as { access_token: string; raw: { access_token: string } };
    expect(() => (credentials.access_token = 'stolen')).toThrow(TypeError);
    expect(() => (credentials.raw.access_token = 'stolen')).toThrow(TypeError);
    expect(opened.of(row, open).credentials).toMatchObject({ access_token: 'token-1', raw: { access_token: 'token-1' } });
  });

  it('opens anew the row that replaced a kept one, so a rotated token is served at once', () => {
    const opened = new OpenedConnections();
    const { open, opens } = counted();
    expect(opened.of(sealedRow('token-1'), open).credentials).toMatchObject({ access_token: 'token-1' });
    expect(opened.of(sealedRow('token-2'), open).credentials).toMatchObject({ access_token: 'token-2' });
    expect(opens()).toBe(2);
  });
});
