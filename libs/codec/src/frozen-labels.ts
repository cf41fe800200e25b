/**
 * The identity contract of label sets, the one place it is written down.
 *
 * A label array that is frozen, and whose labels are frozen, can never change: its object identity stands for its
 * content for as long as it lives. Whatever is derived from the content of such an array may therefore be cached
 * with the array itself and never checked again: one identity has one label set. The place for that is the
 * array's {@link LabelSetMemo}, not a `WeakMap` keyed by the array: V8 gives an object an identity hash of 21 bits,
 * so a map keyed by millions of arrays probes long chains of equal hashes (a `WeakMap.get` measured 0.2 us at
 * 1,000,000 keys, 0.43 us at 2,000,000 and 11.4 us at 4,000,000), where a property read stays constant.
 *
 * - The codec hands out such arrays: the remote-write 1.0 decoder's label-set cache returns the same frozen array
 *   for the same label bytes in every request while it holds the set (`decodeWriteRequest`).
 * - The election keeps the contract across the split: the series it stores without the replica label get, for a
 *   frozen source array, one frozen stripped array, the same in every request (`storedSeries` in @promha/election,
 *   which may not import this module and checks `Object.isFrozen` itself).
 * - Storage resolves a series id by the identity of a {@link FrozenLabels} before hashing any string (the series
 *   cache), and remembers only arrays that pass {@link isFrozenLabels}.
 *
 * Nothing may rely on the converse: two equal label sets may be two arrays (a miss by identity falls back to
 * comparing content).
 */
import type { Label } from './model.js';

declare const frozenLabels: unique symbol;

/**
 * The property of a frozen label array that holds its memo. A registered symbol, so that a library that may not
 * import this module (the election) reaches the same property as `Symbol.for('promha.labelSetMemo')`.
 */
export const LABEL_SET_MEMO: unique symbol = Symbol.for('promha.labelSetMemo') as typeof LABEL_SET_MEMO;

/**
 * What libraries downstream derived from one frozen label set, kept on the array (the array is frozen, its memo is
 * not). Every field belongs to one library; the shape is fixed here so that every memo has the same hidden class.
 * An array that is copied or stripped gets a memo of its own.
 */
export interface LabelSetMemo {
  /** @promha/election: the set without the replica label `strippedOf` (a frozen array with a memo of its own). */
  stripped: readonly Label[] | undefined;
  strippedOf: string | undefined;
  /**
   * @promha/storage: the generation of the series-cache table the set was matched in (a number, not the table: a
   * table an eviction replaced must not stay reachable from the memos), and its entry there.
   */
  seriesTable: number;
  seriesEntry: number;
  /**
   * @promha/codec: the limits object whose label checks (count, name and value lengths) the set passed. A label set
   * the decoder's cache hands out again is not measured again against the same limits.
   */
  limitsPassed: object | undefined;
}

/** A fresh memo (every field empty). */
export function newLabelSetMemo(): LabelSetMemo {
  return { stripped: undefined, strippedOf: undefined, seriesTable: -1, seriesEntry: -1, limitsPassed: undefined };
}

/** The memo of a frozen label array, or undefined for an array without one. */
export function memoOf(labels: readonly Label[]): LabelSetMemo | undefined {
  return (labels as { readonly [LABEL_SET_MEMO]?: LabelSetMemo })[LABEL_SET_MEMO];
}

/** A label array under the identity contract above: frozen, of frozen labels. Made by {@link freezeLabels}. */
export type FrozenLabels = readonly Label[] & { readonly [frozenLabels]: true };

/** Whether `labels` is under the identity contract (the array and every label frozen). */
export function isFrozenLabels(labels: readonly Label[]): labels is FrozenLabels {
  if (!Object.isFrozen(labels)) return false;
  for (let i = 0; i < labels.length; i++) if (!Object.isFrozen(labels[i])) return false;
  return true;
}

/**
 * Freezes `labels` and every label in it (in place), putting the array under the identity contract, with a fresh
 * memo (unless it is frozen already: it keeps what it has).
 */
export function freezeLabels(labels: readonly Label[]): FrozenLabels {
  for (let i = 0; i < labels.length; i++) if (!Object.isFrozen(labels[i])) Object.freeze(labels[i]);
  if (!Object.isFrozen(labels)) Object.defineProperty(labels, LABEL_SET_MEMO, { value: newLabelSetMemo() });
  Object.freeze(labels);
  if (!isFrozenLabels(labels)) throw new Error('unreachable: a frozen array of frozen labels');
  return labels;
}
