/**
 * The text (and meta) protocol under -S. memcached 1.6.18 with -S speaks only the binary protocol
 * on its port: it refuses to start with `-B ascii` or `-B auto` ("You cannot allow the ASCII
 * protocol while using SASL"), and it reads a text command as a binary header, so the client gets
 * no answer and the connection closes once 24 bytes arrived (a short command just hangs).
 * mucached does the same in spirit but tells the client why, at once: one CLIENT_ERROR line (the
 * line memcached's own ASCII auth uses for an unauthenticated client, with the reason), then close.
 */
import type { HandlerFactory } from '../handlers/types';

export const TEXT_REFUSED = Buffer.from('CLIENT_ERROR unauthenticated: SASL (-S) requires the binary protocol\r\n');

export const refuseTextUnderSasl: HandlerFactory = (ctx, sink) => {
  let refused = false;
  return {
    onData(): void {
      if (refused) return;
      refused = true;
      ctx.sasl?.log.verbose('SASL: text protocol client refused (with -S only binary clients that authenticate are served)');
      sink.reply(TEXT_REFUSED);
      sink.closeAfterReplies('text protocol under -S');
    },
    bufferedBytes: () => 0,
  };
};
