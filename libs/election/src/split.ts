/**
 * Splitting a request by HA cluster (docs/design.md rules 1-3). Pure and generic over a structural series type, so the
 * election depends on no codec: `@promha/codec`'s `TimeSeries` satisfies {@link HaSeries}.
 */

export interface HaLabel {
  readonly name: string;
  readonly value: string;
}

export interface Timestamped {
  readonly timestamp: number;
}

/** The shape of a series the election reads: labels and every timestamped item it carries. */
export interface HaSeries {
  readonly labels: readonly HaLabel[];
  readonly samples: readonly Timestamped[];
  readonly histograms: readonly Timestamped[];
  readonly exemplars?: readonly Timestamped[];
}

/**
 * The series of one (cluster, replica) pair of a request, as sent: they still carry the replica label. Only the
 * data a `store` decision keeps loses it, in {@link storedSeries} (rule 3), so the non-leader's half of the
 * traffic, which is dropped, never pays for a copy of every series.
 */
export interface ClusterPart<S> {
  readonly cluster: string;
  readonly replica: string;
  /**
   * Smallest and greatest timestamp of the part's samples, histograms and exemplars: everything that will be
   * stored lies inside, so a fence over this range covers the write. `minTime > maxTime` when the part carries
   * no timestamp at all (such a part is never stored).
   */
  readonly minTime: number;
  readonly maxTime: number;
  readonly series: readonly S[];
  /** Float samples plus histogram samples. */
  readonly samples: number;
}

export type SplitResult<S> =
  | {
      readonly kind: 'ok';
      /** Series without a replica label (with or without a cluster label), stored as sent (rule 2). */
      readonly nonHa: readonly S[];
      /** One part per (cluster, replica), in order of first appearance. */
      readonly parts: readonly ClusterPart<S>[];
    }
  | {
      /** A series has a replica label but no cluster label: the request is answered 400 (rule 2). */
      readonly kind: 'invalid';
      readonly seriesIndex: number;
      /** What is wrong with that series, without its index (the caller names the series its own way). */
      readonly message: string;
    };

export interface SplitLabels {
  readonly clusterLabel: string;
  readonly replicaLabel: string;
}

interface MutablePart<S> {
  cluster: string;
  replica: string;
  minTime: number;
  maxTime: number;
  series: S[];
  samples: number;
}

/**
 * Classifies every series of a request by its own HA labels (rule 1: never only the first series), splitting
 * a request that mixes clusters or replicas into one part per (cluster, replica).
 */
export function splitByCluster<S extends HaSeries>(series: readonly S[], labels: SplitLabels): SplitResult<S> {
  const { clusterLabel, replicaLabel } = labels;
  const nonHa: S[] = [];
  const parts = new Map<string, MutablePart<S>>();
  // Consecutive series almost always share their (cluster, replica): reusing the last part skips building and
  // hashing the Map key per series (measured 1.7x on the whole split for 1,250-series requests).
  let last: MutablePart<S> | undefined;
  // A request usually comes from one replica of one cluster: while every series so far belongs to the first part,
  // its series are the leading run of the input and nothing is pushed; at the end the part takes the input array
  // itself. `run` is the length of that run, or -1 once a series went elsewhere (then parts hold their own arrays).
  let run = 0;
  let first: MutablePart<S> | undefined;
  for (let i = 0; i < series.length; i++) {
    const s = series[i]!;
    let cluster: string | undefined;
    let replica: string | undefined;
    const ls = s.labels;
    // Names are unique per series (codec invariant), so the scan ends once both labels are found: with the HA
    // labels near the front of a sorted set (`__replica__`, `cluster`) that is 2-3 of about 10 labels. The label
    // objects of cached label sets are spread over the heap, and each one read is a likely cache miss.
    for (let j = 0; j < ls.length; j++) {
      const l = ls[j]!;
      const name = l.name;
      if (name === clusterLabel) {
        cluster = l.value;
        if (replica !== undefined) break;
      } else if (name === replicaLabel) {
        replica = l.value;
        if (cluster !== undefined) break;
      }
    }
    // An empty label value is the same as an absent label in Prometheus.
    if (replica === '') replica = undefined;
    if (cluster === '') cluster = undefined;
    if (replica === undefined) {
      if (run >= 0) {
        if (first !== undefined) first.series = series.slice(0, run);
        run = -1;
      }
      nonHa.push(s);
      continue;
    }
    if (cluster === undefined) {
      return {
        kind: 'invalid',
        seriesIndex: i,
        message: `replica label "${replicaLabel}" without cluster label "${clusterLabel}"`,
      };
    }
    // Cluster and replica values may contain any character; NUL cannot occur in valid label values.
    let part =
      last !== undefined && last.cluster === cluster && last.replica === replica ? last : parts.get(`${cluster}\0${replica}`);
    if (part === undefined) {
      const key = `${cluster}\0${replica}`;
      part = { cluster, replica, minTime: Infinity, maxTime: -Infinity, series: [], samples: 0 };
      parts.set(key, part);
      first ??= part;
    }
    last = part;
    let min = part.minTime;
    let max = part.maxTime;
    // Plain loops rather than a helper taking an accumulator object: this runs for every series of both replicas.
    const ss = s.samples;
    for (let k = 0; k < ss.length; k++) {
      const t = ss[k]!.timestamp;
      if (t < min) min = t;
      if (t > max) max = t;
    }
    const hs = s.histograms;
    for (let k = 0; k < hs.length; k++) {
      const t = hs[k]!.timestamp;
      if (t < min) min = t;
      if (t > max) max = t;
    }
    const es = s.exemplars;
    if (es !== undefined) {
      for (let k = 0; k < es.length; k++) {
        const t = es[k]!.timestamp;
        if (t < min) min = t;
        if (t > max) max = t;
      }
    }
    part.minTime = min;
    part.maxTime = max;
    part.samples += ss.length + hs.length;
    if (run >= 0) {
      if (part === first) {
        run++;
        continue;
      }
      if (first !== undefined) first.series = series.slice(0, run);
      run = -1;
    }
    part.series.push(s);
  }
  if (run > 0 && first !== undefined) return { kind: 'ok', nonHa, parts: [{ ...first, series }] };
  return { kind: 'ok', nonHa, parts: [...parts.values()] };
}

/** A part's series restricted to a decided window, with the count of samples kept and dropped. */
export interface ClippedSeries<S> {
  readonly series: readonly S[];
  readonly kept: number;
  readonly dropped: number;
}

function inWindow(items: readonly Timestamped[], from: number, until: number): boolean {
  for (let k = 0; k < items.length; k++) {
    const t = items[k]!.timestamp;
    if (t < from || t >= until) return false;
  }
  return true;
}

/**
 * The part of a frozen label array's memo this library uses (`LabelSetMemo` in @promha/codec, where the identity
 * contract is written down; this library may not import the codec, and reaches the memo by its registered symbol).
 */
interface StripMemo {
  stripped: readonly HaLabel[] | undefined;
  strippedOf: string | undefined;
  seriesTable: number;
  seriesEntry: number;
  /** Not this library's; here so that every memo has one shape. */
  limitsPassed: object | undefined;
}

const LABEL_SET_MEMO = Symbol.for('promha.labelSetMemo');

const memoOf = (ls: readonly HaLabel[]): StripMemo | undefined => (ls as { readonly [LABEL_SET_MEMO]?: StripMemo })[LABEL_SET_MEMO];

/**
 * A label set without the label `name`. This keeps the identity contract of label sets: a frozen source array with
 * a memo has one frozen stripped array (with a memo of its own), the same in every request, kept in the source's
 * memo, so the storage writer resolves the stored series' id by identity instead of hashing its label strings.
 */
function withoutLabel(ls: readonly HaLabel[], name: string): readonly HaLabel[] {
  const memo = memoOf(ls);
  if (memo?.strippedOf === name) return memo.stripped!;
  let at = -1;
  for (let j = 0; j < ls.length; j++) {
    if (ls[j]!.name === name) {
      at = j;
      break;
    }
  }
  if (at < 0) return ls;
  // Label names are unique per series (codec invariant), so removing the one index is the whole filter. A plain
  // loop: slice + concat take V8's slow path on frozen arrays (the codec's cached label sets are frozen),
  // measured at about 1.5-2 us per series against about 0.2 us for the loop.
  const kept = new Array<HaLabel>(ls.length - 1);
  for (let j = 0, k = 0; j < ls.length; j++) if (j !== at) kept[k++] = ls[j]!;
  if (memo === undefined) return kept;
  const own: StripMemo = { stripped: undefined, strippedOf: undefined, seriesTable: -1, seriesEntry: -1, limitsPassed: undefined };
  Object.defineProperty(kept, LABEL_SET_MEMO, { value: own });
  const labels = Object.freeze(kept);
  memo.stripped = labels;
  memo.strippedOf = name;
  return labels;
}

/**
 * The series of a part as a `store` decision stores them: the samples, histograms and exemplars with
 * `from <= t < until` (a `store` decision's window) and the replica label `replicaLabel` removed (rule 3; the cluster
 * label and every other label stay). Series left with nothing are omitted; `dropped` counts the samples and
 * histograms deduplicated. One pass, and only over data that is stored: a dropped part is never copied.
 */
export function storedSeries<S extends HaSeries>(
  series: readonly S[],
  from: number,
  until: number,
  replicaLabel: string,
): ClippedSeries<S> {
  const out: S[] = [];
  let kept = 0;
  let dropped = 0;
  for (let i = 0; i < series.length; i++) {
    const s = series[i]!;
    const n = s.samples.length + s.histograms.length;
    const all =
      inWindow(s.samples, from, until) &&
      inWindow(s.histograms, from, until) &&
      (s.exemplars === undefined || inWindow(s.exemplars, from, until));
    if (all) {
      kept += n;
      if (n + (s.exemplars?.length ?? 0) > 0) out.push({ ...s, labels: withoutLabel(s.labels, replicaLabel) });
      continue;
    }
    const inside = (x: Timestamped): boolean => x.timestamp >= from && x.timestamp < until;
    const samples = s.samples.filter(inside);
    const histograms = s.histograms.filter(inside);
    const exemplars = s.exemplars?.filter(inside) ?? [];
    kept += samples.length + histograms.length;
    dropped += n - samples.length - histograms.length;
    if (samples.length + histograms.length + exemplars.length === 0) continue;
    const labels = withoutLabel(s.labels, replicaLabel);
    out.push(s.exemplars === undefined ? { ...s, labels, samples, histograms } : { ...s, labels, samples, histograms, exemplars });
  }
  return { series: out, kept, dropped };
}
