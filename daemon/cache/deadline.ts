/**
 * A wait bounded by a deadline (Date.now() clock): the wait's own outcome if it settles first, else
 * `timeoutError()` at the deadline. The wait itself goes on; its later outcome is ignored.
 */
export function withDeadline<T>(wait: Promise<T>, deadlineMs: number, timeoutError: () => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(timeoutError()), Math.max(0, deadlineMs - Date.now()));
    wait.then((v) => { clearTimeout(timer); resolve(v); }, (err) => { clearTimeout(timer); reject(err); });
  });
}
