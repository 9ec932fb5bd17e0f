/**
 * The differential script: a seeded list of steps. A step is one batch of commands written on one
 * connection (text/meta connections 0 and 1, binary connections 2 and 3, since memcached picks a
 * connection's protocol from its first byte), optionally cut into pieces at random points.
 */
import { Rng } from './rng';
import { key250 } from './diffData';
import { binCasSet, binaryCommand, binGetk, resetOpaques } from './diffBinGen';
import { casCommand, GenCmd, GenEnv, getsCommand, setCommand, textCommand } from './diffTextGen';

export type Proto = 'text' | 'binary';

export interface Step {
  index: number;
  conn: number;
  proto: Proto;
  cmds: GenCmd[];
  /** Cut points as fractions of the batch's byte length; the batch is written in those pieces. */
  cuts: number[];
  /** What the step is for, in failure messages. */
  what: string;
}

export const TEXT_CONNS = [0, 1];
export const BINARY_CONNS = [2, 3];

function cutsFor(rng: Rng): number[] {
  const n = rng.weighted<number>([[70, 0], [20, rng.range(1, 3)], [10, rng.range(4, 12)]]);
  const cuts: number[] = [];
  for (let i = 0; i < n; i++) cuts.push(rng.next32() / 0x1_0000_0000);
  return cuts.sort((a, b) => a - b);
}

/**
 * A cas race: both connections read the same item's CAS unique, the first cas-store wins
 * (STORED / status 0), the second loses (EXISTS / status 2).
 */
function casRace(env: GenEnv, proto: Proto): Array<Omit<Step, 'index'>> {
  const { rng } = env;
  const key = rng.chance(0.2) ? key250 : Buffer.from(rng.pick(['k1', 'k2', 'race']));
  const [a, b] = proto === 'text' ? TEXT_CONNS : BINARY_CONNS;
  const v1 = Buffer.from(`first-${rng.int(1000)}`);
  const v2 = Buffer.from(`second-${rng.int(1000)}`);
  const one = (conn: number, cmd: GenCmd, what: string) => ({ conn, proto, cmds: [cmd], cuts: [], what });
  if (proto === 'text') {
    const k = key.toString('latin1');
    const known = Object.assign((c: { get(k: string): bigint | undefined }) => String(c.get(k) ?? 1n), { bad: false });
    return [
      one(a, setCommand(key, Buffer.from('base')), 'cas race: seed'),
      one(a, getsCommand(key), 'cas race: gets A'),
      one(b, getsCommand(key), 'cas race: gets B'),
      one(a, casCommand(key, v1, known), 'cas race: cas A wins'),
      one(b, casCommand(key, v2, known), 'cas race: cas B loses'),
      one(b, getsCommand(key), 'cas race: check'),
    ];
  }
  const k = key.toString('latin1');
  const known = (c: { get(k: string): bigint | undefined }) => c.get(k) ?? 1n;
  return [
    one(a, binGetk(key), 'binary cas race: getk A'),
    one(b, binGetk(key), 'binary cas race: getk B'),
    one(a, binCasSet(key, v1, known), 'binary cas race: set A'),
    one(b, binCasSet(key, v2, known), 'binary cas race: set B'),
    one(b, binGetk(key), 'binary cas race: check'),
  ];
}

/** Steps totalling at least `commandCount` commands. */
export function generateSteps(seed: number, commandCount: number, nowSec: number, maxItemBytes: number): Step[] {
  const rng = new Rng(seed);
  resetOpaques();
  const env: GenEnv = { rng, nowSec, maxItemBytes };
  const steps: Step[] = [];
  let commands = 0;
  const push = (s: Omit<Step, 'index'>) => {
    steps.push({ ...s, index: steps.length });
    commands += s.cmds.length;
  };
  while (commands < commandCount && steps.length < commandCount) {
    const kind = rng.weighted<string>([[45, 'text1'], [12, 'textBatch'], [22, 'bin1'], [12, 'binBatch'], [3, 'race'], [0.3, 'quit']]);
    switch (kind) {
      case 'text1': {
        const cmd = textCommand(env);
        push({ conn: rng.pick(TEXT_CONNS), proto: 'text', cmds: [cmd], cuts: cmd.noreply ? [] : cutsFor(rng), what: 'text' });
        break;
      }
      case 'textBatch': {
        const cmds = Array.from({ length: rng.range(2, 25) }, () => textCommand(env));
        const cuts = cmds.some((c) => c.noreply) ? [] : cutsFor(rng);
        push({ conn: rng.pick(TEXT_CONNS), proto: 'text', cmds, cuts, what: 'pipelined text batch' });
        break;
      }
      case 'bin1': {
        const cmd = binaryCommand(env);
        push({ conn: rng.pick(BINARY_CONNS), proto: 'binary', cmds: [cmd], cuts: cmd.closes ? [] : cutsFor(rng), what: 'binary' });
        break;
      }
      case 'binBatch': {
        const cmds: GenCmd[] = [];
        const n = rng.range(2, 25);
        while (cmds.length < n && !cmds[cmds.length - 1]?.closes) cmds.push(binaryCommand(env));
        const closes = cmds[cmds.length - 1].closes === true;
        push({ conn: rng.pick(BINARY_CONNS), proto: 'binary', cmds, cuts: closes ? [] : cutsFor(rng), what: 'pipelined binary batch' });
        break;
      }
      case 'race':
        for (const s of casRace(env, rng.chance(0.5) ? 'text' : 'binary')) push(s);
        break;
      default: {
        const proto: Proto = rng.chance(0.5) ? 'text' : 'binary';
        const conn = rng.pick(proto === 'text' ? TEXT_CONNS : BINARY_CONNS);
        const quit: GenCmd = proto === 'text'
          ? { build: () => Buffer.from('quit\r\n') }
          : { build: () => Buffer.from([0x80, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) };
        push({ conn, proto, cmds: [quit], cuts: [], what: 'quit (connection must close)' });
      }
    }
  }
  return steps;
}
