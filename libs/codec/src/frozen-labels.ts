/**
 * The identity contract of label sets, the one place it is written down.
 *
 * A label array that is frozen, and whose labels are frozen, can never change: its object identity stands for its
 * content for as long as it lives. Whatever is derived from the content of such an array may therefore be cached
 * by the array itself (a `WeakMap` key) and never checked again: one identity has one label set.
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

/** A label array under the identity contract above: frozen, of frozen labels. Made by {@link freezeLabels}. */
export type FrozenLabels = readonly Label[] & { readonly [frozenLabels]: true };

/** Whether `labels` is under the identity contract (the array and every label frozen). */
export function isFrozenLabels(labels: readonly Label[]): labels is FrozenLabels {
  if (!Object.isFrozen(labels)) return false;
  for (let i = 0; i < labels.length; i++) if (!Object.isFrozen(labels[i])) return false;
  return true;
}

/** Freezes `labels` and every label in it (in place), putting the array under the identity contract. */
export function freezeLabels(labels: readonly Label[]): FrozenLabels {
  for (let i = 0; i < labels.length; i++) if (!Object.isFrozen(labels[i])) Object.freeze(labels[i]);
  Object.freeze(labels);
  if (!isFrozenLabels(labels)) throw new Error('unreachable: a frozen array of frozen labels');
  return labels;
}
