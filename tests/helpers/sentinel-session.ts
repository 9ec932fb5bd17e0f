/**
 * One client connection that sends a request and reads exactly its replies: a sentinel follows
 * every request (text `mn`, binary noop with a fresh opaque), and reading stops when the stream
 * parses completely and ends with the sentinel's reply. No timing decides where a reply ends; a
 * server that never answers fails the read at `timeoutMs`.
 */
import { BinRequest, BinResponse, encodeRequest, Op } from './binpkt';
import { escapeBytes } from './escape';
import { binaryEndsWithNoop, parseBinaryFrames, textEndsWith } from './replyFrames';
import { WireConn } from './wireConn';

const TEXT_SENTINEL = Buffer.from('mn\r\n');
const TEXT_SENTINEL_REPLY = 'MN\r\n';

export class SentinelSession {
  private nextOpaque = 0x5e000000;

  private constructor(private readonly conn: WireConn, private readonly timeoutMs: number) {}

  static async open(port: number, timeoutMs = 10_000): Promise<SentinelSession> {
    return new SentinelSession(await WireConn.open(port), timeoutMs);
  }

  /** The replies to `request` (text or meta commands, "\r\n"-terminated), as latin1 text. */
  async text(request: string | Buffer): Promise<string> {
    const bytes = typeof request === 'string' ? Buffer.from(request, 'latin1') : request;
    await this.conn.write([bytes, TEXT_SENTINEL]);
    const r = await this.conn.readUntil((b) => textEndsWith(b, TEXT_SENTINEL_REPLY), this.timeoutMs);
    if (r.timedOut || r.closed) throw new Error(`no complete reply to ${escapeBytes(bytes, 200)}: got ${escapeBytes(r.bytes)}`);
    this.conn.take(r.bytes.length);
    return r.bytes.subarray(0, r.bytes.length - TEXT_SENTINEL_REPLY.length).toString('latin1');
  }

  /** The response packets to `requests` (binary protocol), the sentinel's left out. */
  async binary(...requests: BinRequest[]): Promise<BinResponse[]> {
    const opaque = this.nextOpaque++;
    const sent = Buffer.concat([...requests.map(encodeRequest), encodeRequest({ opcode: Op.noop, opaque })]);
    await this.conn.write([sent]);
    const r = await this.conn.readUntil((b) => binaryEndsWithNoop(b, opaque), this.timeoutMs);
    if (r.timedOut || r.closed) throw new Error(`no complete binary reply to ${escapeBytes(sent, 200)}: got ${escapeBytes(r.bytes)}`);
    this.conn.take(r.bytes.length);
    // Copies: the packets must not alias the connection's buffer.
    return parseBinaryFrames(Buffer.from(r.bytes)).packets.slice(0, -1);
  }

  close(): void {
    this.conn.destroy();
  }
}
