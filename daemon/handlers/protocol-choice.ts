/**
 * `-B ascii|binary|auto`: which protocols a connection may speak; the first byte picks one
 * (0x80 = binary). A client speaking the other one is told so where it can read the answer and then
 * closed, instead of being read in the wrong protocol as memcached does (a binary request read as
 * text waits forever for its newline; a text command read as binary closes after 24 bytes, or hangs).
 */
import type { BindingProtocol } from '../cli-args';
import type { ServerContext } from '../context';
import type { Logger } from '../log';
import { createAsciiHandler } from './ascii';
import { createBinaryHandler } from './binary';
import type { HandlerFactory } from './types';
import { refuseTextUnderSasl } from '../sasl/text-refusal';

export const TEXT_REFUSED_BINARY_ONLY = Buffer.from('CLIENT_ERROR this server speaks only the binary protocol (-B binary)\r\n');

/** Refuses a client at its first bytes: `reply` if it could read one, then close. */
function refusal(log: Logger, why: string, reply?: Buffer): HandlerFactory {
  return (_ctx, sink) => {
    let refused = false;
    return {
      onData(): void {
        if (refused) return;
        refused = true;
        log.verbose(`client refused: ${why}`);
        if (reply !== undefined) sink.reply(reply);
        sink.closeAfterReplies(why);
      },
      bufferedBytes: () => 0,
    };
  };
}

/** The handler factories a connection chooses from, given -B and -S. */
export function protocolHandlers(ctx: ServerContext, protocol: BindingProtocol, log: Logger): { ascii: HandlerFactory; binary: HandlerFactory } {
  // -S: the port serves binary SASL clients only (daemon/sasl/text-refusal.ts); -B ascii with -S is refused at start.
  let ascii: HandlerFactory = createAsciiHandler;
  if (ctx.sasl) ascii = refuseTextUnderSasl;
  else if (protocol === 'binary') ascii = refusal(log, 'text protocol under -B binary', TEXT_REFUSED_BINARY_ONLY);
  // A binary client could not read a text line: it is only closed.
  return { ascii, binary: protocol === 'ascii' ? refusal(log, 'binary protocol under -B ascii') : createBinaryHandler };
}
