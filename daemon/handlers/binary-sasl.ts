/**
 * The binary handler's -S half, one per connection: the frame gate in front of the parser (no
 * command but SASL and version before a successful auth) and the answers to the SASL opcodes,
 * byte for byte as memcached 1.6.18 gives them. The connection's authenticated state lives here,
 * in its SaslSession.
 *
 * SASL answers are decided as soon as their request is parsed, never deferred behind a pending
 * write: the gate must know the outcome before it looks at the next request head. Their bytes
 * still reach the client in request order (`replyInOrder`).
 */
import type { ServerContext } from '../context';
import { Opcode, Status } from '../../protocol/binary/constants';
import type { BinaryCommand, BinaryRequest } from '../../protocol/binary/commands';
import { encodeResponse } from '../../protocol/binary/encode';
import type { BinaryRequestParser } from '../../protocol/binary/parser';
import type { FrameLimits } from '../../protocol/binary/validate';
import { SaslFrameGate } from '../sasl/frame-gate';
import { SaslOutcome, SaslSession } from '../sasl/session';
import type { SaslSettings } from '../sasl/settings';
import { failure, success } from './binary-reply';

/** PROTOCOL_BINARY_RESPONSE_AUTH_CONTINUE: the mechanism wants another step. */
const AUTH_CONTINUE = 0x21;
const AUTHENTICATED = Buffer.from('Authenticated');

export class BinarySasl {
  private readonly session: SaslSession;
  private readonly gate: SaslFrameGate;

  constructor(private readonly ctx: ServerContext, private readonly sasl: SaslSettings, parser: BinaryRequestParser, limits: FrameLimits) {
    this.session = new SaslSession(sasl.passwords);
    this.gate = new SaslFrameGate(parser, limits, () => this.session.authenticated);
  }

  /** Feed bytes: SASL requests are answered here, every other command goes to `execute`. */
  push(chunk: Buffer, execute: (command: BinaryCommand) => void, replyInOrder: (bytes: Buffer) => void): void {
    this.gate.push(chunk, (command) => {
      if (command.kind === 'request' && isSaslOpcode(command.command)) replyInOrder(this.answer(command));
      else execute(command);
    });
  }

  bufferedBytes(): number {
    return this.gate.bufferedBytes();
  }

  private answer(req: BinaryRequest): Buffer {
    if (req.command === Opcode.SASL_LIST_MECHS) return success(req, { value: Buffer.from(this.session.listMechanisms()) });
    const mechanism = req.key.toString('latin1');
    const outcome = req.command === Opcode.SASL_AUTH ? this.session.start(mechanism, req.value) : this.session.step(req.value);
    return this.reply(req, outcome);
  }

  private reply(req: BinaryRequest, outcome: SaslOutcome): Buffer {
    const { counters } = this.ctx;
    switch (outcome.result) {
      case 'ok':
        counters.auth_cmds++;
        this.sasl.log.debug(`SASL: user <${outcome.user}> authenticated`);
        return success(req, { value: AUTHENTICATED });
      case 'continue':
        // An empty challenge: the client sends its PLAIN message with a SASL step.
        return encodeResponse({ opcode: req.header.opcode, opaque: req.header.opaque, status: AUTH_CONTINUE });
      case 'fail': {
        counters.auth_cmds++;
        counters.auth_errors++;
        const who = outcome.user === undefined ? '' : ` for user <${outcome.user}>`;
        this.sasl.log.verbose(`SASL: authentication failed${who}: ${outcome.reason}`);
        return failure(req, Status.AUTH_ERROR);
      }
    }
  }
}

function isSaslOpcode(opcode: number): boolean {
  return opcode === Opcode.SASL_LIST_MECHS || opcode === Opcode.SASL_AUTH || opcode === Opcode.SASL_STEP;
}
