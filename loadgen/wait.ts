/**
 * Waiting on other processes, always bounded: whether one still exists, and polling for a
 * condition until a deadline (tools that start clusters, and their tests).
 */

/** Whether a process with this pid exists (EPERM: it does, owned by another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls `cond` every `pollMs` until it holds; throws `timed out waiting for <what>` after timeoutMs. */
export async function waitUntil(cond: () => boolean, timeoutMs: number, what: string, pollMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 1_000_000 && Date.now() < deadline; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}
