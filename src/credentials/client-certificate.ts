import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { ApiError } from '../errors.js';
import type { ClientCertificate } from '../net/client-tls.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';

/**
 * A connection's TLS client certificate, for providers whose template says `require_client_certificate: true`
 * (ADP): the certificate the provider signed for the customer's app and its private key, both PEM, given with
 * the connection as `client_certificate` and `client_private_key` (Nango's names). The certificate is public;
 * the key is a secret: stored sealed with the rest of the credentials, never returned by a read, never logged.
 */
export const CERTIFICATE_FIELD = 'client_certificate';
export const PRIVATE_KEY_FIELD = 'client_private_key';

export interface ClientCertificateFields {
  client_certificate?: string | undefined;
  client_private_key?: string | undefined;
}

/**
 * The certificate a new connection of `template` presents: both fields, checked, when the template requires
 * them; none otherwise. Anything else is a 400 that names the field and what is wrong with it.
 */
export function clientCertificateInput(template: Pick<ProviderTemplate, 'require_client_certificate'>, fields: ClientCertificateFields, provider: string, now: Date): ClientCertificate | undefined {
  const given = [fields.client_certificate, fields.client_private_key].some((value) => value !== undefined && value !== '');
  if (!template.require_client_certificate) {
    if (given) throw new ApiError('invalid_body', `The provider "${provider}" does not use a TLS client certificate; leave out ${CERTIFICATE_FIELD} and ${PRIVATE_KEY_FIELD}.`);
    return undefined;
  }
  const certificate = fields.client_certificate ?? '';
  const privateKey = fields.client_private_key ?? '';
  if (!certificate.trim() || !privateKey.trim()) {
    throw new ApiError('invalid_body', `The provider "${provider}" requires a TLS client certificate: pass ${CERTIFICATE_FIELD} (the PEM certificate the provider signed for your app) and ${PRIVATE_KEY_FIELD} (its PEM private key).`);
  }
  const problem = clientCertificateProblem({ certificate, privateKey }, now);
  if (problem) throw new ApiError('invalid_body', problem);
  return { certificate, privateKey };
}

/** What is wrong with a certificate and key pair (not PEM, unreadable, expired, or not a pair); undefined when they are usable. */
export function clientCertificateProblem(pair: ClientCertificate, now: Date): string | undefined {
  let certificate: X509Certificate;
  try {
    if (!pair.certificate.includes('-----BEGIN CERTIFICATE-----')) throw new Error('not PEM');
    certificate = new X509Certificate(pair.certificate);
  } catch {
    return `${CERTIFICATE_FIELD} is not a PEM certificate: paste the whole file the provider gave you, from "-----BEGIN CERTIFICATE-----" to "-----END CERTIFICATE-----".`;
  }
  let key: KeyObject;
  try {
    if (!/-----BEGIN (?:RSA |EC )?PRIVATE KEY-----/.test(pair.privateKey)) throw new Error('not PEM');
    key = createPrivateKey(pair.privateKey);
  } catch {
    return `${PRIVATE_KEY_FIELD} is not an unencrypted PEM private key: paste the key you generated the certificate request with, from "-----BEGIN PRIVATE KEY-----" (or "RSA PRIVATE KEY") to its END line.`;
  }
  if (!certificate.checkPrivateKey(key)) return `${PRIVATE_KEY_FIELD} is not the private key of ${CERTIFICATE_FIELD}: give the key the certificate was requested with.`;
  if (new Date(certificate.validTo).getTime() < now.getTime()) return `${CERTIFICATE_FIELD} expired on ${new Date(certificate.validTo).toISOString()}; ask the provider for a new one.`;
  return undefined;
}

/** The certificate stored credentials hold, or undefined. */
export function storedClientCertificate(fields: ClientCertificateFields): ClientCertificate | undefined {
  return fields.client_certificate && fields.client_private_key ? { certificate: fields.client_certificate, privateKey: fields.client_private_key } : undefined;
}

/** The credentials without the private key: what every read returns. */
export function withoutPrivateKey<C extends object>(credentials: C): Omit<C, typeof PRIVATE_KEY_FIELD> {
  const { [PRIVATE_KEY_FIELD]: _key, ...rest } = credentials as C & ClientCertificateFields;
  return rest;
}
