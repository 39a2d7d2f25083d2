import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { poolingNotice } from '../src/db/pooler.js';

/** NANGO_DB_POOLER and NANGO_DATABASE_DIRECT_URL: what the server accepts, and the one line it prints about them. */
describe('pooler settings', () => {
  const pooled = 'postgresql://u:p@aws-0-eu.pooler.supabase.com:6543/postgres';
  const direct = 'postgresql://u:p@db.project.supabase.co:5432/postgres';

  it('asks the connection at start by default, with no direct URL', () => {
    expect(loadConfig({ NANGO_DATABASE_URL: pooled }).databasePooling).toEqual({ setting: 'detect', directUrl: undefined });
  });

  it('takes a direct URL and an explicit mode; "session" means no transaction pooler', () => {
    expect(loadConfig({ NANGO_DATABASE_URL: pooled, NANGO_DATABASE_DIRECT_URL: direct, NANGO_DB_POOLER: 'Transaction' }).databasePooling).toEqual({ setting: 'transaction', directUrl: direct });
    expect(loadConfig({ NANGO_DATABASE_URL: pooled, NANGO_DB_POOLER: 'session' }).databasePooling.setting).toBe('none');
  });

  it('refuses a direct URL that is not a postgres:// URL, naming the variable', () => {
    expect(() => loadConfig({ NANGO_DATABASE_URL: pooled, NANGO_DATABASE_DIRECT_URL: 'db.project.supabase.co:5432' })).toThrow(/^NANGO_DATABASE_DIRECT_URL must start with postgres:\/\//);
  });

  it('refuses a direct URL, or transaction mode, for the embedded database', () => {
    expect(() => loadConfig({ NANGO_DATABASE_DIRECT_URL: direct })).toThrow(ConfigError);
    expect(() => loadConfig({ NANGO_DATABASE_DIRECT_URL: direct })).toThrow(/set NANGO_DATABASE_URL to the pooled connection string/);
    expect(() => loadConfig({ NANGO_DB_POOLER: 'transaction' })).toThrow(/needs an external database/);
  });

  it('says without a direct URL that the cache is off and results are polled for, as a warning', () => {
    const notice = poolingNotice({ transactionPooler: true, decidedBy: 'detected', evidence: 'port 6543 is the transaction-mode port of Supabase\'s pooler', direct: undefined, databaseStatementTimeout: '0' }, 10_000);
    expect(notice.level).toBe('warn');
    expect(notice.message).toMatch(/the connection cache is off/);
    expect(notice.message).toMatch(/by polling/);
    expect(notice.message).toMatch(/ALTER ROLE … SET statement_timeout/);
  });

  it('says with a direct URL that LISTEN/NOTIFY and migrations use it, and which statement timeout applies', () => {
    const notice = poolingNotice({ transactionPooler: true, decidedBy: 'setting', direct: { connectionString: direct }, databaseStatementTimeout: '5s' }, 10_000);
    expect(notice.level).toBe('info');
    expect(notice.message).toMatch(/^Database mode: transaction pooler \(NANGO_DB_POOLER=transaction\)\. .*migrations and LISTEN\/NOTIFY use NANGO_DATABASE_DIRECT_URL/);
    expect(notice.message).toMatch(/the database's own statement_timeout \(5s\) applies/);
  });
});
