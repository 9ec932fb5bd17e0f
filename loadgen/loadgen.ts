#!/usr/bin/env node
/**
 * `loadgen <command>`: one entry for the benchmark family.
 *   loadgen puts-only|gets-only|puts-gets <key_size> <value_size> <host> <port> [options]
 *   loadgen bench [options]     (= npm run bench)
 *   loadgen compare [options]   memcached vs mucached single node and 3-node clusters, markdown report
 */
import { benchMain } from './bench';
import { clientMain } from './client-cli';
import { CLIENT_MODES, ClientMode } from './workload';

const USAGE = `usage: loadgen <command> [args]
  puts-only|gets-only|puts-gets <key_size> <value_size> <host> <port> [options]   benchmark client (--help for options)
  bench [options]                                                                 mucached vs memcached -t 1 (npm run bench)
  compare [options]                                                               memcached vs mucached single node and 3-node shm/tcp clusters: report in compare-out/
`;

export async function loadgenMain(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== undefined && (CLIENT_MODES as readonly string[]).includes(command)) return clientMain(command as ClientMode, rest);
  switch (command) {
    case 'bench':
      return benchMain(rest);
    case 'compare':
      return benchMain(rest, 'compare');
    case undefined: case '--help': case '-h': case 'help':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`loadgen: unknown command '${command}'\n${USAGE}`);
      return 1;
  }
}

if (require.main === module) {
  loadgenMain(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
