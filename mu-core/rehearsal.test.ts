import { spawnSync } from 'child_process';
import * as path from 'path';
import { repoRoot } from '../tests/helpers/procs';
import { rehearseTakeOver } from './rehearsal';

describe('take-over rehearsal (start-up warm-up on the simulated fabric)', () => {
  test('each round really crashes a leader, commits under the next one and catches the restarted member up', () => {
    // A rehearsal that silently stopped exercising the take-over (a changed API, a group that never
    // elects) would warm nothing: every round must complete both.
    const r = rehearseTakeOver(3);
    expect({ takeOvers: r.takeOvers, rejoins: r.rejoins }).toEqual({ takeOvers: 3, rejoins: 3 });
  });

  test('leaves nothing running: a process that only rehearses exits by itself', () => {
    // It runs at every cluster node's start-up: a timer or handle left behind would keep a tool
    // that is done from exiting.
    const script = `const r = require(${JSON.stringify(path.join(repoRoot, 'dist', 'mu-core', 'rehearsal.js'))}).rehearseTakeOver(1); console.log(r.takeOvers, r.rejoins);`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect({ status: run.status, stdout: run.stdout.trim(), stderr: run.stderr.trim() }).toEqual({ status: 0, stdout: '1 1', stderr: '' });
  });
});
