export { InMemoryLeaseStore } from './testing/in-memory-store.js';
export type { InMemoryLeaseStoreHooks, LeaseStoreOp } from './testing/in-memory-store.js';
export { ManualClock } from './testing/manual-clock.js';
export { describeLeaseStoreContract } from './testing/contract.js';
export type { LeaseStoreUnderTest } from './testing/contract.js';
