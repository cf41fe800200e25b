import { DAY_MS } from './migrations.js';

export const HOUR_MS = 3_600_000;

/** Start of the UTC day holding t: the lower bound of its sample partition. */
export function dayOf(t: number): number {
  return Math.floor(t / DAY_MS) * DAY_MS;
}

/** Start of the hour holding t: the bucket of a series_chunk row. */
export function hourOf(t: number): number {
  return Math.floor(t / HOUR_MS) * HOUR_MS;
}

/**
 * The oldest data time kept at wall time `wallNow`: the start of the day `retentionDays` back. Retention drops
 * every partition ending at or before it, and writes below it are refused.
 */
export function retentionCutoff(wallNow: number, retentionDays: number): number {
  return dayOf(wallNow - retentionDays * DAY_MS);
}
