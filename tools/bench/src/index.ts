export { interleave, isRate, measurement, median, rate } from './harness.js';
export type { Bench, Measurement } from './harness.js';
