/**
 * Installs a config file the way the docs say (a directory with cluster.json and, for configs that
 * name a secretFile, the secret beside it) so that loadConfigFile reads the file's exact bytes.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface Installed {
  dir: string;
  configFile: string;
  /** The secret written for the config's secretFile, if it names one. */
  secret?: string;
  remove(): void;
}

export function installConfig(sourceFile: string, withSecret = true): Installed {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mucached-configs-'));
  const configFile = path.join(dir, 'cluster.json');
  const text = fs.readFileSync(sourceFile, 'utf8');
  fs.writeFileSync(configFile, text);
  const secretFile = (JSON.parse(text) as { secretFile?: string }).secretFile;
  let secret: string | undefined;
  if (secretFile !== undefined && withSecret) {
    if (path.isAbsolute(secretFile)) throw new Error(`${sourceFile}: secretFile should be relative to the config's directory`);
    secret = `test-secret-${path.basename(sourceFile)}`;
    fs.mkdirSync(path.dirname(path.join(dir, secretFile)), { recursive: true });
    fs.writeFileSync(path.join(dir, secretFile), `${secret}\n`, { mode: 0o600 });
  }
  return { dir, configFile, secret, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
