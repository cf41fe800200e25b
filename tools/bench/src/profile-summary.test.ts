import { describe, expect, it } from 'vitest';
import { component, summarise } from './profile-summary.js';

describe('profile-summary', () => {
  it('files call frames under components by where their code lives', () => {
    expect(component('readSeriesV1', 'file:///w/libs/codec/src/internal/decode.ts')).toMatch(/^codec/);
    expect(component('splitByCluster', 'file:///w/libs/election/src/split.ts')).toMatch(/^election/);
    expect(component('write', 'file:///w/libs/storage/src/internal/writer.ts')).toMatch(/^storage/);
    expect(component('(garbage collector)', '')).toBe('GC');
    expect(component('x', 'file:///w/node_modules/pg-protocol/dist/serializer.js')).toBe('node-postgres');
  });

  it('sums self time per node and skips samples before --after', () => {
    const profile = {
      startTime: 0,
      nodes: [
        { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 3] },
        { id: 2, callFrame: { functionName: 'f', url: 'file:///w/libs/codec/a.ts', lineNumber: 0 } },
        { id: 3, callFrame: { functionName: '(garbage collector)', url: '', lineNumber: -1 } },
      ],
      samples: [2, 2, 3, 2],
      timeDeltas: [1000, 1000, 1000, 2_000_000],
    };
    const all = summarise(profile);
    expect(all.totalMs).toBeCloseTo(2003, 6);
    expect(new Map(all.byComponent).get('GC')).toBeCloseTo(1, 6);
    const late = summarise(profile, 1);
    expect(late.totalMs).toBeCloseTo(2000, 6);
  });
});
