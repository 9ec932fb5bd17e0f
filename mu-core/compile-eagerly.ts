/**
 * Import this first in a process that runs a Mu node (before mu-core itself): from here on V8
 * compiles every function when its module loads, and keeps the bytecode of functions that have not
 * run for a while. A follower never ran the code of a fail-over (prepare, recovery, a leader's
 * term); compiled lazily at that moment, and recompiled after V8 flushed it, it cost the take-over
 * about 1.5 ms on shm (main-st-failover, 2-core machine). The price is start-up time and memory for
 * the bytecode of everything loaded (see `compileLazilyAgain`).
 */
import * as v8 from 'v8';

v8.setFlagsFromString('--no-lazy');
v8.setFlagsFromString('--no-flush-bytecode');
// Type feedback (inline caches) from a function's first call, not its ninth: code that runs once
// per fail-over otherwise runs it entirely uncached (see also rehearsal.ts).
v8.setFlagsFromString('--no-lazy-feedback-allocation');

/** Once the node's modules are loaded: code loaded later (rarely used tools) compiles lazily again. */
export function compileLazilyAgain(): void {
  v8.setFlagsFromString('--lazy');
}
