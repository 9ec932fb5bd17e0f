/**
 * `-Z` and memcached's ssl_* suboptions (`-o ssl_chain_cert=FILE,ssl_key=FILE,...`): TLS on the TCP
 * port, as memcached 1.6 configures it. The verify modes are OpenSSL's, as memcached maps them:
 * 0 none; 1 request a client certificate and check it if one is sent; 2 require one; 3 request
 * once (the same as 1 here: TLS 1.3 and Node never renegotiate). Certificates are read from their
 * files at start and again on `refresh_certs`, so a rotated certificate needs no restart.
 */
import * as fs from 'fs';
import type * as tls from 'tls';

export type VerifyMode = 0 | 1 | 2 | 3;

export interface TlsSettings {
  chainCertFile: string;
  keyFile: string;
  caCertFile?: string;
  verifyMode: VerifyMode;
  ciphers?: string;
  /** As memcached names it (tlsv1.2, tlsv1.3). */
  minVersion: 'tlsv1.2' | 'tlsv1.3';
  /** Accepted as memcached does; what they tune is OpenSSL's inside memcached (see `notes`). */
  wbufSizeBytes: number;
  sessionCache: boolean;
  kernelTls: boolean;
}

/** memcached's defaults for the settings it reports (`stats settings`). */
const DEFAULT_WBUF_KB = 16;

const KNOWN = new Set(['ssl_chain_cert', 'ssl_key', 'ssl_ca_cert', 'ssl_verify_mode', 'ssl_ciphers', 'ssl_min_version', 'ssl_keyformat', 'ssl_wbuf_size', 'ssl_session_cache', 'ssl_kernel_tls']);

/**
 * The TLS settings of `-Z` with these suboptions (undefined without -Z), and the lines to log about
 * what has no effect. Throws with the option at fault.
 */
export function tlsSettingsFrom(enabled: boolean, ssl: Record<string, string>): { settings?: TlsSettings; notes: string[] } {
  const names = Object.keys(ssl);
  for (const name of names) if (!KNOWN.has(name)) throw new Error(`Illegal suboption "${name}"`);
  if (!enabled) return { notes: names.length > 0 ? [`-o ${names.join(',')}: TLS options have no effect without -Z`] : [] };
  const chainCertFile = ssl.ssl_chain_cert;
  const keyFile = ssl.ssl_key;
  if (!chainCertFile || !keyFile) throw new Error('-Z needs a certificate and its key: -o ssl_chain_cert=FILE,ssl_key=FILE');
  const mode = ssl.ssl_verify_mode ?? '0';
  if (!/^[0-3]$/.test(mode)) throw new Error(`-o ssl_verify_mode=${mode}: use 0 (none), 1 (request), 2 (require) or 3 (once)`);
  const verifyMode = Number(mode) as VerifyMode;
  if (verifyMode !== 0 && !ssl.ssl_ca_cert) throw new Error(`-o ssl_verify_mode=${mode} checks client certificates: give their CA with -o ssl_ca_cert=FILE`);
  // memcached numbers the versions: 0 TLS 1.0, 1 TLS 1.1, 2 TLS 1.2 (its default), 3 TLS 1.3.
  const minVersionNo = ssl.ssl_min_version ?? '2';
  if (minVersionNo !== '2' && minVersionNo !== '3') throw new Error(`-o ssl_min_version=${minVersionNo}: mucached speaks TLS 1.2 (2) or 1.3 (3)`);
  const minVersion = minVersionNo === '3' ? 'tlsv1.3' : 'tlsv1.2';
  if (ssl.ssl_keyformat !== undefined && ssl.ssl_keyformat !== '1') throw new Error(`-o ssl_keyformat=${ssl.ssl_keyformat}: only PEM keys (1) are supported`);
  const wbuf = ssl.ssl_wbuf_size ?? String(DEFAULT_WBUF_KB);
  if (!/^\d+$/.test(wbuf)) throw new Error(`-o ssl_wbuf_size=${wbuf}: a size in kilobytes`);
  const notes: string[] = [];
  if (ssl.ssl_wbuf_size !== undefined) notes.push('-o ssl_wbuf_size has no effect: Node.js sizes its TLS buffers itself');
  if (ssl.ssl_kernel_tls !== undefined) notes.push('-o ssl_kernel_tls has no effect: Node.js does not offload TLS to the kernel');
  const settings: TlsSettings = {
    chainCertFile, keyFile, caCertFile: ssl.ssl_ca_cert, verifyMode, ciphers: ssl.ssl_ciphers, minVersion,
    wbufSizeBytes: Number(wbuf) * 1024, sessionCache: ssl.ssl_session_cache !== undefined, kernelTls: false,
  };
  // Read once now: a file that is missing or not a certificate stops the start, not the first client.
  secureContextOptions(settings);
  return { settings, notes };
}

function readPem(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read the ${what} ${file}: ${(err as Error).message}`);
  }
}

/** What Node's TLS server is given, read from the files now (start, refresh_certs). */
export function secureContextOptions(s: TlsSettings): tls.SecureContextOptions {
  return {
    cert: readPem(s.chainCertFile, 'certificate chain (ssl_chain_cert)'),
    key: readPem(s.keyFile, 'key (ssl_key)'),
    ...(s.caCertFile !== undefined ? { ca: readPem(s.caCertFile, 'CA certificates (ssl_ca_cert)') } : {}),
    ...(s.ciphers !== undefined ? { ciphers: s.ciphers } : {}),
    minVersion: s.minVersion === 'tlsv1.3' ? 'TLSv1.3' : 'TLSv1.2',
  };
}

/** The server's options for client certificates: only mode 2 fails a handshake without one. */
export function clientCertOptions(s: TlsSettings): { requestCert: boolean; rejectUnauthorized: boolean } {
  return { requestCert: s.verifyMode !== 0, rejectUnauthorized: s.verifyMode === 2 };
}

/** `stats settings`' ssl lines, as memcached prints them (with TLS off too). */
export function tlsSettingsPairs(s: TlsSettings | undefined): Array<[string, string]> {
  return [
    ['ssl_enabled', s ? 'yes' : 'no'],
    ['ssl_chain_cert', s?.chainCertFile ?? '(null)'],
    ['ssl_key', s?.keyFile ?? '(null)'],
    ['ssl_verify_mode', String(s?.verifyMode ?? 0)],
    ['ssl_keyformat', '1'],
    ['ssl_ciphers', s?.ciphers ?? 'NULL'],
    ['ssl_ca_cert', s?.caCertFile ?? 'NULL'],
    ['ssl_wbuf_size', String(s?.wbufSizeBytes ?? DEFAULT_WBUF_KB * 1024)],
    ['ssl_session_cache', s?.sessionCache ? 'yes' : 'no'],
    ['ssl_kernel_tls', 'no'],
    ['ssl_min_version', s?.minVersion ?? 'tlsv1.2'],
  ];
}
