/**
 * memjs, a real binary-protocol client. It ships no type declarations; this is the part of its API
 * the tests use.
 */

export interface MemjsClient {
  get(key: string): Promise<{ value: Buffer | null; flags: Buffer | null }>;
  set(key: string, value: string | Buffer, options?: { expires?: number }): Promise<boolean>;
  add(key: string, value: string | Buffer, options?: { expires?: number }): Promise<boolean>;
  replace(key: string, value: string | Buffer, options?: { expires?: number }): Promise<boolean>;
  delete(key: string): Promise<boolean>;
  increment(key: string, amount: number, options?: { initial?: number; expires?: number }): Promise<{ success: boolean; value: number | null }>;
  decrement(key: string, amount: number, options?: { initial?: number; expires?: number }): Promise<{ success: boolean; value: number | null }>;
  append(key: string, value: string | Buffer): Promise<boolean>;
  prepend(key: string, value: string | Buffer): Promise<boolean>;
  touch(key: string, expires: number): Promise<boolean>;
  flush(): Promise<Record<string, boolean | Error>>;
  stats(callback: (err: Error | null, server: string, stats: Record<string, string> | null) => void): void;
  close(): void;
}
// eslint-disable-next-line @typescript-eslint/no-var-requires
export const memjs: { Client: { create(servers: string, options: object): MemjsClient } } = require('memjs');
