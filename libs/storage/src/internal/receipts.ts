/**
 * Idempotency receipts: a keyed part claims its key in the flush's transaction, so a resend of a part that
 * committed (after a 5xx, a timeout, or a crash between commit and answer) finds the key taken and writes nothing.
 * The receipt commits or rolls back with the data it stands for.
 */
import { NOW_MS } from './sql.js';
import { statement } from './statements.js';

/**
 * The claim as a data-modifying CTE named `claimed` (one row per key this flush took), so that the statement that
 * creates the flush's batch rows can carry it: `$1` is the keys wanted.
 */
export const CLAIM_CTE = `
claimed AS (
  INSERT INTO write_receipt (key, written_wall) SELECT k, ${NOW_MS} FROM unnest($1::text[]) AS k
  ON CONFLICT (key) DO NOTHING RETURNING key
)`;

export const CLAIM_RECEIPTS = statement('promha_claim_receipts', `WITH ${CLAIM_CTE} SELECT key FROM claimed`);

/**
 * The keys a flush claims. `keys` per entry: `null` (its fence failed: never written), undefined (unkeyed: always
 * written) or its key.
 */
export function wantedKeys(keys: readonly (string | undefined | null)[]): string[] {
  const wanted = new Set<string>();
  for (const k of keys) if (typeof k === 'string') wanted.add(k);
  return [...wanted];
}

/**
 * Per entry, whether to write it once the keys in `claimed` were taken: keyed entries when their key was claimed,
 * and only the first of identical keys in the batch.
 */
export function claimedEntries(keys: readonly (string | undefined | null)[], claimed: Set<string>): boolean[] {
  return keys.map((k) => (k === null ? false : k === undefined ? true : claimed.delete(k)));
}
