export type {
  CasResult,
  Clock,
  ExtendRequest,
  Fence,
  FenceFailure,
  Lease,
  LeaseChange,
  LeaseChangeReason,
  LeaseStore,
  TakeoverRequest,
} from './ports.js';
