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
  StoreSnapshot,
  TakeoverNotice,
  TakeoverRequest,
} from './ports.js';
export { Election } from './election.js';
export { DATA_TIME_BEGIN } from './internal/core.js';
export type { ElectionDeps } from './internal/engine.js';
export type { Decision, PartRange } from './decision.js';
export { ElectionError, ElectionErrorCodes } from './errors.js';
export type { ElectionErrorCode } from './errors.js';
export { DEFAULT_ELECTION_OPTIONS, resolveElectionOptions } from './options.js';
export type { ElectionOptions, ResolvedElectionOptions } from './options.js';
export { splitByCluster, storedSeries } from './split.js';
export type { ClippedSeries, ClusterPart, HaLabel, HaSeries, SplitLabels, SplitResult, Timestamped } from './split.js';
export type { ElectionMetrics, StoreOp } from './metrics.js';
