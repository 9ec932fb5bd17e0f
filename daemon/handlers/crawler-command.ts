/**
 * `lru_crawler crawl|enable|disable|sleep|tocrawl`: the reply line memcached 1.6.18 gives for each
 * outcome (metadump is answered with the dump itself, in ascii.ts).
 */
import type { AsciiCommand } from '../../protocol/ascii/commands';
import type { ServerContext } from '../context';

type CrawlerCommand = Extract<AsciiCommand, { kind: 'crawler' }>;

export function crawlerReply(ctx: ServerContext, c: CrawlerCommand): string {
  const crawler = ctx.crawler;
  switch (c.action) {
    case 'crawl': {
      const outcome = crawler.crawl(c.classes === 'all' ? undefined : new Set(c.classes));
      if (outcome === 'disabled') return 'CLIENT_ERROR lru crawler disabled';
      return outcome === 'busy' ? 'BUSY currently processing crawler request' : 'OK';
    }
    case 'enable':
      return crawler.enable() ? 'OK' : 'ERROR failed to start lru crawler thread';
    case 'disable':
      crawler.disable();
      return 'OK';
    case 'sleep':
      crawler.settings.sleepUs = c.sleepUs;
      return 'OK';
    case 'tocrawl':
      crawler.settings.toCrawl = c.toCrawl;
      return 'OK';
  }
}
