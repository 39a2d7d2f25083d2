import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { scratchDir } from './scratch.js';
import { noteSecrets } from './secret-watch.js';

/**
 * A local stand-in for a provider that requires mutual TLS, as ADP documents it: its TLS server refuses a
 * handshake without a client certificate signed by its own CA (`requestCert`, `rejectUnauthorized`); its token
 * endpoint issues a client-credentials token only to the right client id and secret, and binds it to the
 * certificate it came over; its API answers only that token over a connection with that same certificate.
 * Certificates are made with openssl at test time, in the run's scratch folder; nothing is committed.
 */
export interface CertificatePair {
  certificate: string;
  privateKey: string;
}

export interface MutualTlsPki {
  /** The stand-in's CA: it signed the server's certificate and the clients it trusts. */
  caCertificate: string;
  server: CertificatePair;
  /** A client certificate the stand-in's CA signed (what ADP gives a customer's app). */
  client: CertificatePair;
  /** A well-formed client certificate from another CA, which the stand-in refuses in the handshake. */
  stranger: CertificatePair;
}

export interface TokenRequestSeen {
  grantType: string | null;
  clientId: string | null;
  /** SHA-256 fingerprint of the client certificate the request came over. */
  certificate: string | undefined;
}

export interface MutualTlsProvider {
  origin: string;
  pki: MutualTlsPki;
  clientId: string;
  clientSecret: string;
  tokenRequests: TokenRequestSeen[];
  /** API calls answered 200, with the certificate each came over. */
  apiCalls: { certificate: string | undefined; path: string }[];
  /** Handshakes the TLS server refused (no certificate, or one its CA did not sign). */
  refusedHandshakes: number;
  close(): Promise<void>;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA, a server certificate for 127.0.0.1, a client certificate it signed, and one from another CA. */
export function makeMutualTlsPki(): MutualTlsPki {
  const dir = scratchDir('mtls-pki');
  const file = (name: string) => readFileSync(path.join(dir, name), 'utf8');
  for (const ca of ['ca', 'other-ca']) {
    openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '2', '-subj', `/CN=Custody test ${ca}`);
  }
  const issue = (name: string, ca: string, extensions: string) => {
    openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(path.join(dir, `${name}.ext`), extensions);
    openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
    return { certificate: file(`${name}.crt`), privateKey: file(`${name}.key`) };
  };
  const pki = {
    caCertificate: file('ca.crt'),
    server: issue('server', 'ca', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'),
    client: issue('client', 'ca', 'extendedKeyUsage=clientAuth\n'),
    stranger: issue('stranger', 'other-ca', 'extendedKeyUsage=clientAuth\n'),
  };
  noteSecrets('mutual TLS stand-in keys', [pki.server.privateKey, pki.client.privateKey, pki.stranger.privateKey]);
  return pki;
}

export async function startMutualTlsProvider(pki: MutualTlsPki = makeMutualTlsPki()): Promise<MutualTlsProvider> {
  const clientId = 'adp-client-id';
  const clientSecret = 'adp-client-secret-7f3a9c';
  const tokens = new Map<string, string | undefined>();
  const provider = { tokenRequests: [] as TokenRequestSeen[], apiCalls: [] as MutualTlsProvider['apiCalls'], refusedHandshakes: 0 };
  noteSecrets('mutual TLS stand-in', [clientSecret]);

  const server = https.createServer({ key: pki.server.privateKey, cert: pki.server.certificate, ca: [pki.caCertificate], requestCert: true, rejectUnauthorized: true }, (request, response) => {
    const peer = (request.socket as TLSSocket).getPeerX509Certificate();
    const fingerprint = peer?.fingerprint256;
    const answer = (status: number, body: unknown) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const url = new URL(request.url ?? '/', 'https://127.0.0.1');
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method === 'POST' && url.pathname === '/auth/oauth/v2/token') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        provider.tokenRequests.push({ grantType: form.get('grant_type'), clientId: form.get('client_id'), certificate: fingerprint });
        if (form.get('grant_type') !== 'client_credentials') return answer(400, { error: 'unsupported_grant_type' });
        if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) return answer(401, { error: 'invalid_client', error_description: 'Unknown client or wrong secret.' });
        const token = `adp-token-${tokens.size + 1}-${Math.random().toString(36).slice(2)}`;
        tokens.set(token, fingerprint);
        noteSecrets('mutual TLS stand-in', [token]);
        return answer(200, { access_token: token, token_type: 'Bearer', expires_in: 3600, scope: 'api' });
      }
      if (request.method === 'GET' && url.pathname === '/hr/v2/workers') {
        const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
        if (!token || !tokens.has(token)) return answer(401, { error: 'invalid_token' });
        if (tokens.get(token) !== fingerprint) return answer(403, { error: 'certificate_mismatch', message: 'The token was issued to another client certificate.' });
        provider.apiCalls.push({ certificate: fingerprint, path: url.pathname });
        return answer(200, { workers: [{ associateOID: 'G3NJ8ZQ', workerStatus: { statusCode: { codeValue: 'Active' } } }] });
      }
      return answer(404, { error: 'not_found' });
    });
  });
  server.on('tlsClientError', () => provider.refusedHandshakes++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(provider, {
    origin: `https://127.0.0.1:${port}`,
    pki,
    clientId,
    clientSecret,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** The SHA-256 fingerprint of a PEM certificate, as the stand-in records it. */
export function fingerprintOf(certificate: string): string {
  return new X509Certificate(certificate).fingerprint256;
}
