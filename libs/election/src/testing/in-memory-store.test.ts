import { describeLeaseStoreContract } from './contract.js';
import { InMemoryLeaseStore } from './in-memory-store.js';

describeLeaseStoreContract('in-memory', () => {
  const store = new InMemoryLeaseStore();
  return { store, checkFence: (fence, commit) => Promise.resolve(store.checkFence(fence, commit)) };
});
