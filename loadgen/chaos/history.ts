/**
 * A recorded history of client operations on a key-value register, as the linearizability
 * checker reads it. Times are in milliseconds on one monotonic clock (fractions allowed, so
 * nanosecond clocks divide by 1e6). An operation whose outcome the client never learned (timeout,
 * closed connection, error reply of unknown effect) has `returnMs = Infinity`: it may or may not
 * have taken effect, at any time after its invocation.
 */
export type OpKind = 'set' | 'get' | 'cas' | 'incr' | 'delete';

export interface Op {
  /** Unique within the history; the report names operations by it. */
  id: number;
  client: number;
  key: string;
  kind: OpKind;
  invokeMs: number;
  /** Infinity when the outcome is unknown. */
  returnMs: number;
  /** set/cas: the value written (unique per write); incr: the delta in decimal. */
  value?: string;
  /** cas: the value that `gets` returned together with the CAS unique the cas sent. */
  expected?: string;
  /**
   * What the client saw. get: the value or null for a miss. incr: the new value, null for
   * NOT_FOUND, 'NON_NUMERIC' for memcached's CLIENT_ERROR. set: 'STORED'. cas: 'STORED' | 'EXISTS' |
   * 'NOT_FOUND'. delete: 'DELETED' | 'NOT_FOUND'. Ignored when the outcome is unknown.
   */
  result?: string | null;
  /**
   * A read served from one replica's local state (a follower may lag by the commit delay, as the
   * design allows): recorded and counted, but not held to linearizability.
   */
  weak?: boolean;
  /** Free text for reports, e.g. the node that served it. */
  note?: string;
}

export const isUnknown = (op: Op): boolean => op.returnMs === Infinity;

export function describeOp(op: Op): string {
  const t = (ms: number): string => (ms === Infinity ? 'never' : `${ms.toFixed(3)} ms`);
  const args = op.kind === 'cas' ? `${JSON.stringify(op.expected)} -> ${JSON.stringify(op.value)}`
    : op.kind === 'set' || op.kind === 'incr' ? JSON.stringify(op.value) : '';
  const res = isUnknown(op) ? 'outcome unknown' : `returned ${JSON.stringify(op.result ?? null)}`;
  return `#${op.id} client ${op.client} ${op.kind}(${op.key}${args ? ', ' + args : ''}) invoked ${t(op.invokeMs)}, ${res}${isUnknown(op) ? '' : ' at ' + t(op.returnMs)}${op.note ? ` [${op.note}]` : ''}`;
}
