import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { promisify } from 'node:util';
import type { TlsSetting } from '../deploy-config.ts';
import { CoordinatorError } from '../errors.ts';

/** The PEM credentials the HTTPS server is made with. */
export interface TlsCredentials {
  cert: string;
  key: string;
  /** Where the certificate lies when it was generated (`FLOCK_TLS=self-signed`): what to trust. */
  selfSignedCertFile: string | undefined;
}

/** A generated certificate is made again when it expires within this, ms. */
const RENEW_BEFORE_MS = 7 * 24 * 3600_000;
/** Days a generated certificate is valid (browsers refuse longer for publicly trusted ones; keep it short). */
const SELF_SIGNED_DAYS = 90;

/**
 * The credentials of a TLS setting, or undefined when TLS is off. A self-signed certificate lives
 * in `<dataDir>/tls/` and is reused while it is valid for another week and names every host in
 * `names`; otherwise a new one is made with `openssl` (P-256, 90 days, those names as SANs).
 */
export async function tlsCredentials(
  setting: TlsSetting,
  dataDir: string,
  names: readonly string[],
): Promise<TlsCredentials | undefined> {
  switch (setting.kind) {
    case 'off':
      return undefined;
    case 'files': {
      const cert = await readPem(setting.certFile, 'FLOCK_TLS_CERT');
      const key = await readPem(setting.keyFile, 'FLOCK_TLS_KEY');
      try {
        // Parses both and checks that the key is the certificate's.
        createSecureContext({ cert, key });
      } catch (err) {
        throw new CoordinatorError(
          'CONFIG_INVALID',
          `FLOCK_TLS_CERT/FLOCK_TLS_KEY: not a PEM certificate and its key: ${String(err)}`,
          'FLOCK_TLS_CERT',
        );
      }
      return { cert, key, selfSignedCertFile: undefined };
    }
    case 'self-signed':
      return selfSigned(join(dataDir, 'tls'), names);
  }
}

async function readPem(path: string, variable: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new CoordinatorError(
      'CONFIG_INVALID',
      `${variable}: cannot read ${path}: ${String(err)}`,
      variable,
    );
  }
}

/** The host names and addresses a development certificate names: local ones plus `extra`. */
export function selfSignedNames(extra: readonly (string | undefined)[]): string[] {
  const names = new Set(['localhost', '127.0.0.1', '::1', hostname()]);
  for (const name of extra) {
    if (name === undefined || name === '' || name === '0.0.0.0' || name === '::') continue;
    names.add(name.replace(/^\[|\]$/g, ''));
  }
  return [...names];
}

async function selfSigned(dir: string, names: readonly string[]): Promise<TlsCredentials> {
  const certFile = join(dir, 'self-signed-cert.pem');
  const keyFile = join(dir, 'self-signed-key.pem');
  const existing = await readFile(certFile, 'utf8').catch(() => undefined);
  if (existing !== undefined && stillGood(existing, names)) {
    return { cert: existing, key: await readFile(keyFile, 'utf8'), selfSignedCertFile: certFile };
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const san = names.map((n) => (isIP(n) !== 0 ? `IP:${n}` : `DNS:${n}`)).join(',');
  // Written beside and renamed, so a crash never leaves a key that does not match its certificate.
  try {
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      String(SELF_SIGNED_DAYS),
      '-subj',
      '/CN=Flock development certificate',
      '-addext',
      `subjectAltName=${san}`,
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      'extendedKeyUsage=serverAuth',
      '-keyout',
      `${keyFile}.new`,
      '-out',
      `${certFile}.new`,
    ]);
  } catch (err) {
    throw new CoordinatorError(
      'CONFIG_INVALID',
      `FLOCK_TLS=self-signed needs openssl (Debian package openssl): ${String(err)}`,
      'FLOCK_TLS',
    );
  }
  await rename(`${keyFile}.new`, keyFile);
  await rename(`${certFile}.new`, certFile);
  return {
    cert: await readFile(certFile, 'utf8'),
    key: await readFile(keyFile, 'utf8'),
    selfSignedCertFile: certFile,
  };
}

/** Valid for another week and naming every one of `names`. */
function stillGood(pem: string, names: readonly string[]): boolean {
  try {
    const cert = new X509Certificate(pem);
    if (Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_MS) return false;
    return names.every((name) =>
      isIP(name) !== 0 ? cert.checkIP(name) !== undefined : cert.checkHost(name) !== undefined,
    );
  } catch {
    return false;
  }
}
