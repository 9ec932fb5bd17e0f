/** mu-core: the Mu consensus protocol over the fabric interface (binding/fabric.ts). */
export { MuNode } from './node';
export type { MuNodeOptions, Role, StateTransferHooks } from './node';
export { defaultConfig } from './config';
export type { MuConfig } from './config';
export { RealScheduler } from './scheduler';
export type { Scheduler, TimerHandle } from './scheduler';
export { NotLeaderError, LostLeadershipError, EntryTooLargeError } from './errors';
export { silentLogger, prefixedConsoleLogger } from './logger';
export type { MuLogger } from './logger';
export type { EntryHandler, SkipHandler } from './pump';
export type { ProposeCallback } from './leader';
