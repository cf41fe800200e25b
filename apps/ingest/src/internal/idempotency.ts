/**
 * The idempotency key of a stored part: the one function both the live write path and the standby-buffer fill path
 * call, so that a part written by either is recognised when the other (or a resend) writes it again.
 *
 * Invariants:
 * - the key depends only on what was sent (the body's digest), which part of it (non-HA data, or one cluster and
 *   replica) and the data-time range kept: never on lease state (`until` moves at every refresh and differs between
 *   instances), so a resend after a 503 or a timeout maps to the same key on every instance however many lease
 *   extensions came in between;
 * - the encoding is unambiguous (length-prefixed fields), so cluster `a|b` with replica `c` is not cluster `a` with
 *   replica `b|c`;
 * - the key has a fixed length (a SHA-256), whatever the label values' lengths: it is a btree key in the database.
 */
import { createHash } from 'node:crypto';

/** Which part of a request a key stands for. */
export type KeyedPart =
  | { readonly kind: 'all' }
  | { readonly kind: 'non-ha' }
  | { readonly kind: 'ha'; readonly cluster: string; readonly replica: string };

/** The digest of a request body, computed once per request and shared by its parts' keys. */
export function bodyDigest(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('base64url');
}

/** The idempotency key of `part` of the request whose body has `digest`, keeping data in [minTime, maxTime]. */
export function idempotencyKey(digest: string, part: KeyedPart, minTime: number, maxTime: number): string {
  const fields = part.kind === 'ha' ? [digest, part.kind, part.cluster, part.replica] : [digest, part.kind];
  const h = createHash('sha256');
  for (const f of fields) h.update(`${f.length}:${f}`);
  h.update(`${minTime}:${maxTime}`);
  return h.digest('base64url');
}
