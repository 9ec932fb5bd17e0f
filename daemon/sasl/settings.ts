/**
 * `-S` (--enable-sasl) as the daemon runs it: binary clients authenticate with SASL PLAIN against
 * a password file, text clients are refused. The file is named by --sasl-pwdb, else by the
 * MEMCACHED_SASL_PWDB environment variable (memcached's name for it); it is read once, at start,
 * so a bad file stops the daemon before it listens rather than locking every client out later.
 */
import type { Logger } from '../log';
import { PasswordDb } from './password-db';

export interface SaslSettings {
  passwords: PasswordDb;
  /** Failed authentications are logged at -v (never with the password). */
  log: Logger;
}

export const PWDB_ENV = 'MEMCACHED_SASL_PWDB';

export interface SaslArgs {
  S?: boolean;
  'sasl-pwdb'?: string;
}

/** undefined without -S; throws an Error with a message for the operator when -S cannot run. */
export function saslFromArgs(args: SaslArgs, env: NodeJS.ProcessEnv, log: Logger): SaslSettings | undefined {
  if (!args.S) return undefined;
  const path = args['sasl-pwdb'] ?? env[PWDB_ENV];
  if (path === undefined || path === '') {
    throw new Error(`-S (--enable-sasl) needs a password file of user:password lines: pass --sasl-pwdb FILE or set ${PWDB_ENV}`);
  }
  const passwords = PasswordDb.load(path);
  log.info(`SASL on (-S): binary clients authenticate with PLAIN against ${passwords.userCount} user(s) from ${path}; text protocol refused`);
  return { passwords, log };
}
