#!/usr/bin/env node
/**
 * main-st: standalone Mu replication throughput, as the old tool. Run one process per node
 * (`main-st <process_id> <payload_size> <nr_of_outstanding_reqs>`, members from config.txt) or a
 * whole local group (`main-st --local 3 <payload_size> <nr_of_outstanding_reqs>`). The lowest id
 * leads, replicates --count entries with that many outstanding, and prints
 * `Replicated X commands of size Y bytes in Z ns` and the rate.
 */
import { benchConfig, MainStArgs, parseMainStArgs } from './main-st-common';
import { runLocalGroup } from './main-st-local';
import { drive, followUntilSignalled, startMember, warmUp } from './main-st-node';

export async function mainSt(a: MainStArgs): Promise<number> {
  if (a.local !== null) return runLocalGroup(a, __filename);
  const selfId = a.processId!;
  const member = startMember({ selfId, members: a.members, fabric: a.fabric, cluster: a.cluster, secret: a.secret, config: benchConfig(a) },
    { info: (m) => console.error(a.childOfLocal ? m : `[node ${selfId}] ${m}`), warn: (m) => console.error(`${a.childOfLocal ? '' : `[node ${selfId}] `}WARN ${m}`) });
  if (selfId !== Math.min(...a.members.map((m) => m.peerId))) {
    followUntilSignalled(member);
    return new Promise<number>(() => undefined); // runs until signalled
  }
  try {
    const payload = Buffer.alloc(a.payloadBytes, 0x6d);
    await warmUp(member.node, payload, a.warmup, a.outstanding, a.leaderTimeoutS);
    const t0 = process.hrtime.bigint();
    await drive(member.node, payload, a.count, a.outstanding, () => undefined);
    const ns = Number(process.hrtime.bigint() - t0);
    const opsPerSec = a.count / (ns / 1e9);
    if (a.json) {
      console.log(JSON.stringify({ tool: 'main-st', fabric: a.fabric, nodes: a.members.length || a.local, payloadBytes: a.payloadBytes, outstanding: a.outstanding, count: a.count, ns, opsPerSec }));
    } else {
      console.log(`Replicated ${a.count} commands of size ${a.payloadBytes} bytes in ${ns} ns`);
      console.log(`${Math.round(opsPerSec)} ops/s`);
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
      code = await mainSt(parseMainStArgs('main-st', process.argv.slice(2)));
    } catch (e) {
      console.error(`main-st: ${(e as Error).message}`);
    }
    process.exit(code);
  })();
}
