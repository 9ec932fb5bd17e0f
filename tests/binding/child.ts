/**
 * Drives tests/binding/fabric-child.js: a fabric node in a separate process. Every call and every
 * wait is bounded in time; stop() and kill() act on the child's PID only.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { repoRoot } from '../helpers/procs';

const childScript = path.join(__dirname, 'fabric-child.js');
const compiledWrapper = path.join(repoRoot, 'dist', 'binding', 'index.js');

/** Whether every thread of `pid` is stopped (state T in /proc), waiting up to timeoutMs (SIGSTOP is delivered asynchronously). */
export async function allThreadsStopped(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    const states = fs.readdirSync(`/proc/${pid}/task`).map((tid) => fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').replace(/^.*\) /s, '')[0]);
    if (states.every((state) => state === 'T')) return true;
    await new Promise((r) => setTimeout(r, 2));
  }
  return false;
}

export interface Reply {
  ok: boolean;
  error?: string;
  [key: string]: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export class FabricChild {
  readonly proc: ChildProcess;
  private buffered = '';
  private errText = '';
  private nextId = 1;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  private exitedNow = false;
  private readonly events: Reply[] = [];
  private eventWaiter: (() => void) | undefined;
  private readonly exited: Promise<void>;

  constructor() {
    if (!fs.existsSync(compiledWrapper)) throw new Error(`${compiledWrapper} missing: run npm run build (and npm run build:native)`);
    this.proc = spawn(process.execPath, [childScript], { stdio: ['pipe', 'pipe', 'pipe'] });
    // 'close' comes after the child's stdout/stderr are drained, so stderr() is complete by then.
    this.exited = new Promise((resolve) => this.proc.once('close', () => {
      this.exitedNow = true;
      for (const done of this.waiting.values()) done({ ok: false, error: 'child exited' });
      this.waiting.clear();
      resolve();
    }));
    this.proc.stdout!.on('data', (d: Buffer) => this.onData(d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => { this.errText += d.toString(); });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  stderr(): string {
    return this.errText;
  }

  call(cmd: Record<string, unknown>, timeoutMs = 10_000): Promise<Reply> {
    const id = this.nextId++;
    if (this.exitedNow) return Promise.resolve({ ok: false, error: 'child exited' });
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`child ${this.pid}: no reply to ${JSON.stringify(cmd)} in ${timeoutMs} ms; stderr: ${this.errText}`));
      }, timeoutMs);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.proc.stdin!.write(JSON.stringify({ ...cmd, id }) + '\n');
    });
  }

  /** Like call, but a reply with ok=false rejects. */
  async must(cmd: Record<string, unknown>, timeoutMs = 10_000): Promise<Reply> {
    const r = await this.call(cmd, timeoutMs);
    if (!r.ok) throw new Error(`child ${this.pid}: ${JSON.stringify(cmd)} failed: ${r.error}`);
    return r;
  }

  async event(name: string, timeoutMs = 10_000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
      const found = this.events.findIndex((e) => e.event === name);
      if (found >= 0) return this.events.splice(found, 1)[0];
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.eventWaiter = () => { clearTimeout(timer); resolve(); };
      });
    }
    throw new Error(`child ${this.pid}: no '${name}' event in ${timeoutMs} ms`);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.exitedNow && this.proc.exitCode === null && this.proc.signalCode === null) process.kill(this.pid, signal);
    await this.exited;
  }

  /** Closes stdin (the child closes its fabric and exits); SIGKILL after 5 s. */
  async stop(): Promise<void> {
    if (this.exitedNow) return;
    this.proc.stdin!.end();
    const timer = setTimeout(() => { if (this.proc.exitCode === null) process.kill(this.pid, 'SIGKILL'); }, 5000);
    await this.exited;
    clearTimeout(timer);
  }

  private onData(text: string): void {
    this.buffered += text;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      let msg: Reply;
      try {
        msg = JSON.parse(line) as Reply;
      } catch {
        this.errText += `(non-JSON stdout) ${line}\n`;
        continue;
      }
      if (msg.event) {
        this.events.push(msg);
        this.eventWaiter?.();
      } else if (typeof msg.id === 'number' && this.waiting.has(msg.id)) {
        const done = this.waiting.get(msg.id)!;
        this.waiting.delete(msg.id);
        done(msg);
      }
    }
  }
}

/** A fresh directory for shm region files, removed by the returned cleanup. */
export function tempShmDir(): { dir: string; cleanup: () => void } {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, 'mucached-fabric-test-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export function uniqueCluster(tag: string): string {
  return `${tag}-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
}

/** Seeded PRNG (mulberry32) so a failing case can be replayed from the printed seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The 8-byte little-endian counter the child's hammer writes into slot i. */
export function slotValue(region: Buffer, slot: number): bigint {
  return region.readBigUInt64LE(slot * 8);
}
