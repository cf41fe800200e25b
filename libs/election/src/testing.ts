export { InMemoryLeaseStore } from './testing/in-memory-store.js';
export type { InMemoryLeaseStoreHooks, LeaseStoreOp } from './testing/in-memory-store.js';
export { ManualClock } from './testing/manual-clock.js';
export { describeLeaseStoreContract } from './testing/contract.js';
export type { LeaseStoreUnderTest } from './testing/contract.js';
// The decision core and the engine that runs it with another policy: the simulator's deterministic mode proves
// with a deliberately broken policy that its checks catch one, as the model tests here do.
export { decideStep } from './internal/core.js';
export type { ClusterView, Policy, Step } from './internal/core.js';
export { ElectionEngine } from './internal/engine.js';
export type { ElectionDeps } from './internal/engine.js';
