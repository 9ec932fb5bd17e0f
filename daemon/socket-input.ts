/**
 * A client socket's input without Node's stream machinery. Node's documented `onread` option
 * (net.Socket's constructor) makes the handle read into a caller's buffer and call back with the
 * byte count, skipping per read an allocation, a Readable push and a 'data' emit: measured with
 * callgrind on a 16-connection set loop, a trivial server's instructions per request fall from
 * about 13,100 to 7,100. A net.Server cannot pass that option for the sockets it accepts, so this
 * switches an accepted socket into the same mode through the two fields the option sets and the
 * handle's useUserBuffer. A Node without them gets plain 'data' events, with the same behaviour.
 * pause(), resume(), 'end', 'error' and 'close' behave as usual in both modes.
 *
 * Invariant: in read-buffer mode the consumer gets a view of the shared read buffer, valid only
 * during the callback (`transient`): it copies what it keeps. (The connection feeds the rest of a
 * large value straight from it into the value's own block, which cost a 64 KiB allocation and copy
 * per read before; see Connection.onRead.) 'data' chunks in stream mode are the consumer's own.
 * Every chunk, in both modes, restarts the busy-poll window (busy-poll.ts; off unless configured).
 */
import type * as net from 'net';
import { busyPollAfterInput } from './busy-poll';

export type InputMode = 'read-buffer' | 'stream';

const READ_BUFFER_BYTES = 64 * 1024;
let sharedReadBuffer: Buffer | null = null;

interface UserBufferHandle {
  useUserBuffer?: (buffer: Uint8Array) => void;
}

export function onSocketInput(socket: net.Socket, onChunk: (chunk: Buffer, transient: boolean) => void): InputMode {
  const symbols = Object.getOwnPropertySymbols(socket);
  const kBuffer = symbols.find((s) => s.description === 'kBuffer');
  const kBufferCb = symbols.find((s) => s.description === 'kBufferCb');
  const handle = (socket as unknown as { _handle?: UserBufferHandle | null })._handle;
  if (kBuffer === undefined || kBufferCb === undefined || typeof handle?.useUserBuffer !== 'function') {
    socket.on('data', (chunk: Buffer) => {
      busyPollAfterInput();
      onChunk(chunk, false);
    });
    return 'stream';
  }
  sharedReadBuffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES);
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[kBuffer] = sharedReadBuffer;
  // Returning true keeps reading; the connection pauses the socket itself when over budget.
  fields[kBufferCb] = (bytes: number, buffer: Uint8Array): boolean => {
    busyPollAfterInput();
    onChunk(Buffer.from(buffer.buffer, buffer.byteOffset, bytes), true);
    return true;
  };
  handle.useUserBuffer(sharedReadBuffer);
  return 'read-buffer';
}
