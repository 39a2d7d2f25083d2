import { rootCertificates } from 'node:tls';

/**
 * Mutual TLS: a client certificate and its private key (PEM), which the server presents in the TLS handshake of
 * a call to a provider that requires one (ADP). Only the certificate travels; the key signs the handshake and
 * never leaves the process.
 */
export interface ClientCertificate {
  certificate: string;
  privateKey: string;
}

/** What node:https takes to present a client certificate; `ca` only when more authorities are trusted than Node's own. */
export interface ClientTlsOptions {
  cert: string;
  key: string;
  ca?: string[];
}

/**
 * The TLS options of one call that presents `certificate`. `extraTrusted` adds certificate authorities to Node's
 * own (never replaces them, and never turns verification off): how specs trust a local stand-in's CA. Operators
 * add theirs with Node's NODE_EXTRA_CA_CERTS, which every call honours.
 */
export function clientTlsOptions(certificate: ClientCertificate, extraTrusted: readonly string[]): ClientTlsOptions {
  return {
    cert: certificate.certificate,
    key: certificate.privateKey,
    ...(extraTrusted.length > 0 ? { ca: [...rootCertificates, ...extraTrusted] } : {}),
  };
}
