import { describe, expect, it } from 'vitest';
import { startScriptNodeFlags } from './start-flags.js';

describe('startScriptNodeFlags', () => {
  it("takes the V8 flags of npm start, so the bench's ingest runs as npm start runs it", () => {
    expect(startScriptNodeFlags()).toEqual(['--max-semi-space-size=64']);
  });
});
