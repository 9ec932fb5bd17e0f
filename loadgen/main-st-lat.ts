#!/usr/bin/env node
/**
 * main-st-lat: standalone Mu replication latency, as the old tool. Same command line as main-st.
 * The leader measures every entry from propose to commit, writes dump-st-<size>-<outstanding>.txt
 * (one latency in ns per line) and prints percentiles.
 */
import * as fs from 'fs';
import * as path from 'path';
import { benchConfig, MainStArgs, parseMainStArgs, percentile } from './main-st-common';
import { runLocalGroup } from './main-st-local';
import { drive, followUntilSignalled, startMember, warmUp } from './main-st-node';

export async function mainStLat(a: MainStArgs): Promise<number> {
  if (a.local !== null) return runLocalGroup(a, __filename);
  const selfId = a.processId!;
  const member = startMember({ selfId, members: a.members, fabric: a.fabric, cluster: a.cluster, secret: a.secret, config: benchConfig(a) },
    { info: (m) => console.error(a.childOfLocal ? m : `[node ${selfId}] ${m}`), warn: (m) => console.error(`${a.childOfLocal ? '' : `[node ${selfId}] `}WARN ${m}`) });
  if (selfId !== Math.min(...a.members.map((m) => m.peerId))) {
    followUntilSignalled(member);
    return new Promise<number>(() => undefined);
  }
  try {
    const payload = Buffer.alloc(a.payloadBytes, 0x6c);
    await warmUp(member.node, payload, a.warmup, a.outstanding, a.leaderTimeoutS);
    const latNs = new Float64Array(a.count);
    let k = 0;
    await drive(member.node, payload, a.count, a.outstanding, (ns) => { latNs[k++] = ns; });
    const file = path.join(a.outDir, `dump-st-${a.payloadBytes}-${a.outstanding}.txt`);
    fs.writeFileSync(file, Array.from(latNs, (v) => String(v)).join('\n') + '\n');
    const sorted = Float64Array.from(latNs).sort();
    const pct = { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9), max: sorted[sorted.length - 1] };
    if (a.json) {
      console.log(JSON.stringify({ tool: 'main-st-lat', fabric: a.fabric, nodes: a.members.length || a.local, payloadBytes: a.payloadBytes, outstanding: a.outstanding, count: a.count, file, latencyNs: pct }));
    } else {
      console.log(`Wrote ${a.count} latencies (ns) to ${file}`);
      console.log(`latency ns: p50 ${pct.p50}  p90 ${pct.p90}  p99 ${pct.p99}  p99.9 ${pct.p999}  max ${pct.max}`);
    }
    return 0;
  } finally {
    member.stop();
  }
}

if (require.main === module) {
  (async () => {
    let code = 1;
    try {
      code = await mainStLat(parseMainStArgs('main-st-lat', process.argv.slice(2)));
    } catch (e) {
      console.error(`main-st-lat: ${(e as Error).message}`);
    }
    process.exit(code);
  })();
}
