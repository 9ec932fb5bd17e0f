/**
 * main-st-stream: one member of a group that reports what it sees, one line per event, for tests
 * and fail-over measurements with real processes:
 *   leader <id> <epochMs>               this process became leader
 *   commit <index> <payload> <epochMs>  a proposal of this process committed
 *   apply <index> <payload>             this process applied an entry (every node, in order)
 *   snapshot <index>                    this process installed a snapshot up to index
 *   log <epochMs> <message>             a line of mu-core's log (also on stderr, untimed)
 * With --quiet, only the first commit of each leadership gets a commit line and no entry gets an
 * apply line; instead, every 5 ms when they changed:
 *   committed <count>                   proposals of this process committed so far
 *   applied <count>                     entries this process applied so far
 * (a line per entry costs a write and its parsing, which on a small machine takes the CPU a
 * fail-over measurement needs).
 * While leading it keeps --outstanding proposals in flight (payload `<id>-<seq>`), up to --max
 * per leadership, and resumes when it leads again. Runs until SIGTERM/SIGINT.
 *
 * The application state is the map index -> payload of applied entries; state transfer (a node
 * out of the ring) ships it as a JSON file through --snapshot-dir, the application's own channel.
 * With --quiet it is only the count: a map of every entry grows for as long as the stream runs, and
 * after a few seconds its garbage collections stalled followers past the ring hold, so a fail-over
 * measured then timed the harness's own state transfers (hundreds of ms), not Mu's take-over.
 */
import { compileLazilyAgain } from '../mu-core/compile-eagerly';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import yargs from 'yargs';
import { defaultConfig } from '../mu-core/config';
import { parsePeers, FabricKind } from './main-st-common';
import { startMember } from './main-st-node';

function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

function main(): void {
  compileLazilyAgain();
  const args = yargs(process.argv.slice(2))
    .command('$0 <process_id>', 'A Mu member that prints its leadership, commits and applied entries.')
    .positional('process_id', { type: 'number', demandOption: true })
    .option('peers', { type: 'string', demandOption: true, describe: '1=host:port,2=...' })
    .option('fabric', { choices: ['shm', 'tcp'], default: 'shm' })
    .option('cluster', { type: 'string', demandOption: true })
    .option('outstanding', { type: 'number', default: 4 })
    .option('max', { type: 'number', default: 2000, describe: 'proposals per leadership' })
    .option('rehearse', { type: 'boolean', default: true, describe: 'rehearse a take-over on the simulated fabric before joining (mu-core/rehearsal.ts; --no-rehearse: cold)' })
    .option('scan-ms', { type: 'number', describe: 'peer scan (and heartbeat) interval' })
    .option('dead-after', { type: 'number', describe: 'scans without heartbeat progress before a peer is dead' })
    .option('election-poll-ms', { type: 'number', describe: 'mailbox poll while leadership changes (0 = on scans only)' })
    .option('herald', { type: 'boolean', default: true, describe: 'tcp: run a death herald that tells the peers when this process dies (--no-herald: they learn it when its sockets close)' })
    .option('snapshot-dir', { type: 'string', describe: 'where snapshots are exchanged (default: tmpdir/mu-snap-<cluster>)' })
    .option('quiet', { type: 'boolean', default: false, describe: 'counts instead of a line per commit and per applied entry' })
    .strict()
    .parseSync();
  const selfId = args.process_id;
  const fabric = args.fabric as FabricKind;
  const base = defaultConfig(fabric);
  const scan = args['scan-ms'] ?? base.scanIntervalMs;
  const deadAfter = args['dead-after'] ?? base.scoreMax - base.scoreDeadAt;
  const config = {
    ...base, slotCount: 1024, slotBytes: 128, scanIntervalMs: scan, heartbeatIntervalMs: Math.min(base.heartbeatIntervalMs, scan),
    scoreMax: deadAfter + 2, scoreDeadAt: 2, scoreAliveAt: Math.min(deadAfter + 2, 6),
    electionPollMs: args['election-poll-ms'] ?? base.electionPollMs,
  };
  let out = '';
  let committed = 0;
  let applied = 0;
  let appliedReported = 0;
  let committedReported = 0;
  const flush = () => {
    if (args.quiet && applied !== appliedReported) out += `applied ${(appliedReported = applied)}\n`;
    if (args.quiet && committed !== committedReported) out += `committed ${(committedReported = committed)}\n`;
    if (out !== '') process.stdout.write(out);
    out = '';
  };
  const flushTimer = setInterval(flush, 5);
  let errOut = '';
  let logFlushQueued = false;
  const flushLog = () => {
    logFlushQueued = false;
    if (errOut !== '') process.stderr.write(errOut);
    errOut = '';
    flush();
  };
  const entries = args.quiet ? null : new Map<number, string>();
  const snapDir = args['snapshot-dir'] ?? path.join(os.tmpdir(), `mu-snap-${args.cluster}`);
  fs.mkdirSync(snapDir, { recursive: true });
  const sendSnapshot = (peer: number, upTo: number) => {
    const body = JSON.stringify({ upTo, entries: entries === null ? [] : [...entries].filter(([i]) => i <= upTo) });
    const tmp = path.join(snapDir, `.to-${peer}-${process.pid}`);
    fs.writeFileSync(tmp, body);
    fs.renameSync(tmp, path.join(snapDir, `to-${peer}.json`));
  };
  const member = startMember(
    { selfId, members: parsePeers(args.peers, fabric), fabric, cluster: args.cluster, secret: process.env.MU_SECRET, herald: args.herald, config, rehearse: args.rehearse,
      onEntry: (index, payload) => {
        const p = payload.toString();
        entries?.set(index, p);
        applied++;
        if (!args.quiet) out += `apply ${index} ${p}\n`;
      },
      stateTransfer: {
        sendSnapshot,
        fetchSnapshot: (peer) => fs.writeFileSync(path.join(snapDir, `req-${peer}-from-${selfId}`), ''),
      },
      // Leadership starts the stream at once (the interval below is a safety net).
      onLeaderChange: () => lead() },
    {
      info: (m) => {
        // Timestamped on stdout too (main-st-failover's phase breakdown). Written once this turn of
        // the event loop is over, not at once: a take-over logs a line per step, and two pipe writes
        // per line (each waking the reader) timed the tool's own logging into the fail-over.
        errOut += `[node ${selfId}] ${m}\n`;
        out += `log ${epochMs().toFixed(3)} ${m}\n`;
        if (!logFlushQueued) {
          logFlushQueued = true;
          setImmediate(flushLog);
        }
      },
      warn: (m) => process.stderr.write(`[node ${selfId}] WARN ${m}\n`),
    },
  );
  let seq = 0;
  let leading = false;
  let issuedThisTerm = 0;
  let committedThisTerm = 0;
  let inFlight = 0;
  const issue = () => {
    if (!leading || issuedThisTerm >= args.max) return;
    issuedThisTerm++;
    inFlight++;
    const payload = `${selfId}-${seq++}`;
    member.node.proposeCb(Buffer.from(payload), (err, index) => {
      inFlight--;
      if (err !== null) {
        leading = false;
        return;
      }
      committed++;
      // Written at once (stdout on a pipe is synchronous): a SIGKILL must not eat reported commits.
      if (!args.quiet || committedThisTerm++ === 0) {
        flush();
        process.stdout.write(`commit ${index} ${payload} ${epochMs().toFixed(3)}\n`);
      }
      setImmediate(issue);
    });
  };
  function lead(): void {
    if (member.node.role === 'leader' && !leading && inFlight === 0) {
      leading = true;
      issuedThisTerm = 0;
      committedThisTerm = 0;
      out += `leader ${selfId} ${epochMs().toFixed(3)}\n`;
      flush();
      for (let k = 0; k < args.outstanding; k++) issue();
    }
  }
  const watch = setInterval(lead, 5);
  const snapshots = setInterval(() => {
    const mine = path.join(snapDir, `to-${selfId}.json`);
    if (fs.existsSync(mine)) {
      const snap = JSON.parse(fs.readFileSync(mine, 'utf8')) as { upTo: number; entries: Array<[number, string]> };
      fs.rmSync(mine, { force: true });
      if (snap.upTo > member.node.appliedIndex) {
        if (entries === null) {
          applied += snap.upTo - member.node.appliedIndex;
        } else {
          for (const [i, p] of snap.entries) {
            if (!entries.has(i)) {
              applied++;
              out += `apply ${i} ${p}\n`;
            }
            entries.set(i, p);
          }
        }
        out += `snapshot ${snap.upTo}\n`;
        member.node.installSnapshot(snap.upTo);
      }
    }
    for (const f of fs.readdirSync(snapDir)) {
      const m = /^req-(\d+)-from-(\d+)$/.exec(f);
      if (m === null || Number(m[1]) !== selfId) continue;
      fs.rmSync(path.join(snapDir, f), { force: true });
      sendSnapshot(Number(m[2]), member.node.appliedIndex);
    }
  }, 5);
  const stop = () => {
    clearInterval(watch);
    clearInterval(snapshots);
    clearInterval(flushTimer);
    flushLog();
    member.stop();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main();
