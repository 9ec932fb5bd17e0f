/**
 * A throwaway certificate authority for TLS tests, made with the openssl command (Debian's openssl
 * package): a CA, a server certificate for 127.0.0.1 signed by it, and client certificates, in a
 * fresh temporary directory. Keys are 2048-bit RSA; everything is valid for two days.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  /** Signs a new certificate with the CA (client or server); returns its cert and key files. */
  issue(name: string, commonName: string, serverIp?: string): { cert: string; key: string };
  /** A certificate signed by a CA nobody trusts. */
  untrusted(name: string): { cert: string; key: string };
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

function makeCa(dir: string, name: string): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`], dir);
}

function sign(dir: string, ca: string, name: string, commonName: string, serverIp?: string): { cert: string; key: string } {
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${commonName}`], dir);
  const extra: string[] = [];
  if (serverIp !== undefined) {
    fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=IP:${serverIp}\n`);
    extra.push('-extfile', `${name}.ext`);
  }
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', ...extra], dir);
  return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
}

export function makeTestPki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mucached-pki-'));
  makeCa(dir, 'ca');
  const server = sign(dir, 'ca', 'server', '127.0.0.1', '127.0.0.1');
  let rogueMade = false;
  return {
    dir,
    caCert: path.join(dir, 'ca.crt'),
    serverCert: server.cert,
    serverKey: server.key,
    issue: (name, commonName, serverIp) => sign(dir, 'ca', name, commonName, serverIp),
    untrusted: (name) => {
      if (!rogueMade) makeCa(dir, 'rogue-ca');
      rogueMade = true;
      return sign(dir, 'rogue-ca', name, name);
    },
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
