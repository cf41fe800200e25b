import { MAX_CLUSTERS, MAX_REPLICAS } from './scenario.js';

/**
 * Sample values carry their origin: value = (seq * MAX_CLUSTERS + cluster) * MAX_REPLICAS + replica, an exact
 * integer in float64 as long as seq < 2^53 / 1024. The ingest removes the replica label from leader data, so
 * this is how the checkers learn which replica a stored sample came from, and which scrape it belongs to.
 */
export interface Origin {
  readonly cluster: number;
  readonly replica: number;
  readonly seq: number;
}

export function encodeValue(origin: Origin): number {
  return (origin.seq * MAX_CLUSTERS + origin.cluster) * MAX_REPLICAS + origin.replica;
}

/** The origin of a stored value, or undefined when the value cannot have been produced by encodeValue. */
export function decodeValue(value: number): Origin | undefined {
  if (!Number.isSafeInteger(value) || value < 0) return undefined;
  const replica = value % MAX_REPLICAS;
  const rest = (value - replica) / MAX_REPLICAS;
  const cluster = rest % MAX_CLUSTERS;
  return { cluster, replica, seq: (rest - cluster) / MAX_CLUSTERS };
}

export const METRIC_NAME = 'promha_sim_value';

export function clusterName(index: number): string {
  return `sim-c${index}`;
}
export function replicaName(index: number): string {
  return `r${index}`;
}
export function clusterIndex(name: string): number | undefined {
  const m = /^sim-c(\d+)$/.exec(name);
  return m === null ? undefined : Number(m[1]);
}
export function replicaIndex(name: string): number | undefined {
  const m = /^r(\d+)$/.exec(name);
  return m === null ? undefined : Number(m[1]);
}
