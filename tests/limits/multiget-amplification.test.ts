/**
 * A short get line can name one large item thousands of times: without a bound the reply would be
 * gigabytes built in memory. Past MAX_GET_REPLY_VALUE_BYTES the daemon answers memcached's
 * "out of memory writing get response" instead, and a normal multi-get is unaffected.
 */
import { createAsciiHandler } from '../../daemon/handlers/ascii';
import { MAX_GET_REPLY_VALUE_BYTES } from '../../daemon/handlers/ascii-get';
import { makeContext, RecordingSink } from '../helpers/handler-context';

const VALUE_BYTES = 1000 * 1000;

async function run(input: string): Promise<string> {
  const { ctx } = makeContext();
  const sink = new RecordingSink();
  const handler = createAsciiHandler(ctx, sink);
  handler.onData(Buffer.from(`set big 0 0 ${VALUE_BYTES}\r\n${'x'.repeat(VALUE_BYTES)}\r\n`));
  handler.onData(Buffer.from(input));
  return (await sink.text()).slice(0, 200);
}

describe('multi-get reply size', () => {
  it('refuses a get line whose reply would exceed the bound, with memcached\'s error', async () => {
    const times = Math.floor(MAX_GET_REPLY_VALUE_BYTES / VALUE_BYTES) + 1;
    const heapBefore = process.memoryUsage().arrayBuffers;
    const reply = await run(`get ${Array(times).fill('big').join(' ')}\r\n`);
    expect(reply).toBe('STORED\r\nSERVER_ERROR out of memory writing get response\r\n');
    // Nothing near the would-be reply size was allocated.
    expect(process.memoryUsage().arrayBuffers - heapBefore).toBeLessThan(MAX_GET_REPLY_VALUE_BYTES / 4);
  });

  it('still answers a multi-get within the bound', async () => {
    const reply = await run('get big big\r\n');
    expect(reply.startsWith(`STORED\r\nVALUE big 0 ${VALUE_BYTES}\r\nxxx`)).toBe(true);
  });
});
