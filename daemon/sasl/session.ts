/**
 * One connection's SASL exchange, as memcached 1.6.18 with Cyrus SASL behaves for PLAIN:
 * - auth (start) with the credentials completes at once: ok or fail;
 * - auth with no data asks for them: 'continue' with an empty challenge, and the next step carries
 *   the PLAIN message;
 * - any other step fails;
 * - list-mechs, auth and step each start over from unauthenticated (memcached re-initialises the
 *   connection's SASL state for each of them): a connection is authenticated exactly when its
 *   latest SASL command completed a successful exchange. A failed re-auth drops the access.
 * Not copied: Cyrus fails the first auth after a successful one on the same connection
 * ("attempting server step after doneflag"); here every auth is judged on its credentials.
 * Pure apart from the password check: no bytes of the wire protocol here.
 */
import { parsePlain } from './plain';
import type { PasswordDb } from './password-db';

/** What list-mechs answers: the only mechanism served. */
export const MECHANISMS = 'PLAIN';

export type SaslOutcome =
  | { result: 'ok'; user: string }
  | { result: 'continue' }
  /** `user` is the claimed user name when the message carried one (for the log). */
  | { result: 'fail'; reason: string; user?: string };

export class SaslSession {
  private awaitingResponse = false;
  private authenticatedAs?: string;

  constructor(private readonly passwords: PasswordDb) {}

  get authenticated(): boolean {
    return this.authenticatedAs !== undefined;
  }

  /** SASL list-mechs: the names to offer, space separated. */
  listMechanisms(): string {
    this.authenticatedAs = undefined;
    return MECHANISMS;
  }

  /** SASL auth: begin an exchange with `mechanism` (case-insensitive, as Cyrus matches it). */
  start(mechanism: string, data: Buffer): SaslOutcome {
    this.authenticatedAs = undefined;
    this.awaitingResponse = false;
    if (mechanism.toUpperCase() !== MECHANISMS) return { result: 'fail', reason: `unsupported mechanism ${printable(mechanism)}` };
    if (data.length === 0) {
      this.awaitingResponse = true;
      return { result: 'continue' };
    }
    return this.check(data);
  }

  /** SASL step: only meaningful after a start that asked for the PLAIN message. */
  step(data: Buffer): SaslOutcome {
    this.authenticatedAs = undefined;
    if (!this.awaitingResponse) return { result: 'fail', reason: 'step without an exchange waiting for data' };
    this.awaitingResponse = false;
    return this.check(data);
  }

  private check(data: Buffer): SaslOutcome {
    const plain = parsePlain(data);
    if (!plain.ok) return { result: 'fail', reason: plain.reason };
    const user = printable(plain.authcid.toString('latin1'));
    // Cyrus without a proxy policy lets a user act only as itself.
    if (plain.authzid.length > 0 && !plain.authzid.equals(plain.authcid)) {
      return { result: 'fail', reason: 'authorization identity differs from the user', user };
    }
    if (!this.passwords.verify(plain.authcid, plain.password)) return { result: 'fail', reason: 'wrong user or password', user };
    this.authenticatedAs = user;
    return { result: 'ok', user };
  }
}

/** A user-supplied name made safe for one log line: control and non-ASCII bytes escaped. */
function printable(text: string): string {
  const clipped = text.length > 64 ? `${text.slice(0, 64)}...` : text;
  return clipped.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
