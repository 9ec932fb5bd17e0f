/**
 * `-d`: run in the background. Node cannot fork, so the daemon runs the same command again as a
 * detached child (its own session, stdin from /dev/null, stdout and stderr to /dev/null unless -v,
 * as memcached keeps them open only when verbose) and the foreground process waits until the child
 * listens, then exits 0. Until then the child's log lines come back over an IPC channel and are
 * printed here, so a daemon that cannot start says why on the terminal (or in the init script's
 * log) and the foreground process exits with its exit code.
 */
import { spawn } from 'child_process';

/** Set in the child's environment: it is the daemon already and must not daemonize again. */
export const DAEMON_CHILD_ENV = 'MUCACHED_DAEMON_CHILD';

/** How long the foreground process waits for the daemon to listen before giving up on it. */
export const DAEMON_START_TIMEOUT_MS = 60_000;

type ChildMessage = { log: string } | { ready: number };

export function isDaemonChild(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[DAEMON_CHILD_ENV] === '1';
}

/** In the foreground process: start the daemon and exit with how its start went. Never returns. */
export function daemonize(verbose: boolean): Promise<never> {
  const output = verbose ? 'inherit' : 'ignore';
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: ['ignore', output, output, 'ipc'],
    env: { ...process.env, [DAEMON_CHILD_ENV]: '1' },
  });
  return new Promise<never>(() => {
    const timer = setTimeout(() => {
      process.stderr.write(`mucached: the daemon (pid ${child.pid}) did not start listening within ${DAEMON_START_TIMEOUT_MS / 1000} s; stopping it\n`);
      child.kill('SIGTERM');
      process.exit(1);
    }, DAEMON_START_TIMEOUT_MS);
    child.on('message', (m: ChildMessage) => {
      if ('log' in m) process.stderr.write(m.log);
      else if ('ready' in m) {
        clearTimeout(timer);
        child.disconnect();
        child.unref();
        process.exit(0);
      }
    });
    // The exit can be reported before the last log lines are read from the channel: leave once
    // both happened, so the reason it gave is printed.
    let exited: string | null = null;
    let exitCode = 1;
    let disconnected = false;
    const leaveIfDone = () => {
      if (exited === null || !disconnected) return;
      clearTimeout(timer);
      process.stderr.write(`mucached: the daemon exited before it listened (${exited})\n`);
      process.exit(exitCode);
    };
    child.on('disconnect', () => {
      disconnected = true;
      leaveIfDone();
    });
    child.on('exit', (code, signal) => {
      exited = signal ?? `exit code ${code}`;
      exitCode = code === null || code === 0 ? 1 : code;
      leaveIfDone();
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      process.stderr.write(`mucached: cannot start the daemon: ${err.message}\n`);
      process.exit(71);
    });
  });
}

/**
 * In the daemon child: where log lines go. Until `ready`, to the foreground process (it prints
 * them); afterwards to our own stderr (the terminal under -v, else /dev/null).
 */
export class DaemonChildLog {
  private connected = typeof process.send === 'function';

  readonly sink = (line: string): void => {
    if (this.connected) process.send!({ log: line } satisfies ChildMessage);
    else process.stderr.write(line);
  };

  /** We listen: the foreground process may exit; our output is ours from now on. */
  ready(): void {
    if (!this.connected) return;
    this.connected = false;
    process.send!({ ready: process.pid } satisfies ChildMessage, () => process.disconnect());
  }
}
