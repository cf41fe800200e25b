export { checkRun, CHECK_NAMES } from './internal/checkers.js';
export type {
  AckRecord,
  CheckId,
  CheckInput,
  CheckResult,
  ClusterResult,
  Gap,
  LeaderChange,
  Segment,
  SentSample,
  StoredSample,
  Violation,
} from './internal/checkers.js';
export { describeFault, generateFaults } from './internal/faults.js';
export type { Fault } from './internal/faults.js';
export { Prng } from './internal/prng.js';
export { FAULT_KINDS, parseDuration, parseFaultKinds, parseSkew, resolveScenario } from './internal/scenario.js';
export type { FaultKind, Scenario, ScenarioOptions } from './internal/scenario.js';
export { SimError, SIM_ERROR_CODES } from './internal/errors.js';
export type { SimErrorCode } from './internal/errors.js';
export { decodeValue, encodeValue } from './internal/values.js';
export type { Origin } from './internal/values.js';
