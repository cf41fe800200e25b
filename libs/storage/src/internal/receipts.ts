/**
 * Idempotency receipts: a keyed part claims its key in the flush's transaction, so a resend of a part that
 * committed (after a 5xx, a timeout, or a crash between commit and answer) finds the key taken and writes nothing.
 * The receipt commits or rolls back with the data it stands for.
 */
import type pg from 'pg';
import { NOW_MS } from './sql.js';

const RECEIPT_SQL = `
INSERT INTO write_receipt (key, written_wall) SELECT k, ${NOW_MS} FROM unnest($1::text[]) AS k
ON CONFLICT (key) DO NOTHING RETURNING key`;

/**
 * Returns, per entry, whether to write it: `null` entries (their fence failed) are never written, unkeyed ones
 * always, keyed ones when their key was not already committed, and only the first of identical keys in the batch.
 */
export async function claimReceipts(client: pg.PoolClient, keys: readonly (string | undefined | null)[]): Promise<boolean[]> {
  const wanted = new Set<string>();
  for (const k of keys) if (typeof k === 'string') wanted.add(k);
  const claimed = new Set<string>();
  if (wanted.size > 0) {
    const r = await client.query<{ key: string }>(RECEIPT_SQL, [[...wanted]]);
    for (const row of r.rows) claimed.add(row.key);
  }
  return keys.map((k) => (k === null ? false : k === undefined ? true : claimed.delete(k)));
}
