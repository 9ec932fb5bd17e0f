/**
 * The memcached binary protocol handler: parser commands in, cache calls, reply bytes out.
 * Replies are queued in request order (each may still be pending on the engine); quiet requests
 * queue an empty reply so a later noop cannot overtake a pending quiet write. Commands execute in
 * order too: one arriving while an earlier write is pending waits for it (CommandSequencer).
 */
import type { ServerContext } from '../context';
import type { MaybePromise } from '../cache/types';
import { Opcode, Status } from '../../protocol/binary/constants';
import type { BinaryCommand, BinaryRequest } from '../../protocol/binary/commands';
import { BinaryRequestParser } from '../../protocol/binary/parser';
import type { FrameLimits } from '../../protocol/binary/validate';
import type { HandlerFactory, ReplySink } from './types';
import { CommandSequencer } from './command-sequencer';
import { handleFlush, handleStat, handleVersion } from './binary-admin';
import { BinarySasl } from './binary-sasl';
import { handleGet, handleTouch } from './binary-read';
import { engineFailure, failure, success } from './binary-reply';
import { handleAppend, handleArith, handleDelete, handleStore, handleTooLarge } from './binary-write';

export const createBinaryHandler: HandlerFactory = (ctx, sink) => {
  const limits: FrameLimits = {
    maxKeyBytes: ctx.maxKeyBytes,
    maxValueBytes: (keyBytes, flags) => ctx.engine.maxValueBytes(keyBytes, flags),
  };
  const parser = new BinaryRequestParser(limits);
  const sequencer = new CommandSequencer();
  const run = (command: BinaryCommand) => execute(ctx, sink, sequencer, command);
  if (ctx.sasl) {
    // -S: requests pass the SASL gate first (binary-sasl.ts).
    const sasl = new BinarySasl(ctx, ctx.sasl, parser, limits);
    const replyInOrder = (bytes: Buffer) => sink.reply(sequencer.run(() => bytes));
    return {
      onData: (chunk: Buffer) => sasl.push(chunk, run, replyInOrder),
      bufferedBytes: () => sasl.bufferedBytes(),
    };
  }
  return {
    onData(chunk: Buffer): void {
      for (const command of parser.push(chunk)) run(command);
    },
    bufferedBytes: () => parser.bufferedBytes(),
  };
};

function execute(ctx: ServerContext, sink: ReplySink, sequencer: CommandSequencer, command: BinaryCommand): void {
  switch (command.kind) {
    case 'close':
      sink.closeAfterReplies(command.reason);
      return;
    case 'error':
      sink.reply(failure(command, command.status));
      if (command.close) {
        const what = command.status === Status.AUTH_ERROR ? 'not authenticated (-S)' : 'binary protocol error';
        sink.closeAfterReplies(`${what} (opcode 0x${command.header.opcode.toString(16)})`);
      }
      return;
    case 'tooLarge':
      sink.reply(sequencer.run(() => handleTooLarge(ctx, command)));
      return;
    case 'request':
      sink.reply(sequencer.run(() => {
        const reply = dispatch(ctx, command);
        return reply instanceof Promise ? reply.catch((err: unknown) => engineFailure(command, err)) : reply;
      }));
      if (command.command === Opcode.QUIT) sink.closeAfterReplies('quit');
      return;
  }
}

/** `req.command` is one of the opcodes the parser accepted (protocol/binary/validate.ts). */
function dispatch(ctx: ServerContext, req: BinaryRequest): MaybePromise<Buffer> {
  switch (req.command) {
    case Opcode.GET:
    case Opcode.GETK:
      return handleGet(ctx, req);
    case Opcode.TOUCH:
    case Opcode.GAT:
    case Opcode.GATK:
      return handleTouch(ctx, req);
    case Opcode.SET:
    case Opcode.ADD:
    case Opcode.REPLACE:
      return handleStore(ctx, req);
    case Opcode.APPEND:
    case Opcode.PREPEND:
      return handleAppend(ctx, req);
    case Opcode.DELETE:
      return handleDelete(ctx, req);
    case Opcode.INCREMENT:
    case Opcode.DECREMENT:
      return handleArith(ctx, req);
    case Opcode.FLUSH:
      return handleFlush(ctx, req);
    case Opcode.STAT:
      return handleStat(ctx, req);
    case Opcode.VERSION:
      return handleVersion(ctx, req);
    case Opcode.NOOP:
    case Opcode.QUIT:
      return success(req);
    default:
      throw new Error(`binary opcode 0x${req.command.toString(16)} passed validation but has no handler`);
  }
}
