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
export { parseCli, reproduceCommand, usage } from './internal/cli.js';
export type { CliOptions } from './internal/cli.js';
export { reportHtml, reportJson, summaryTable } from './internal/report.js';
export { plan, runScenario } from './internal/runner.js';
export type { FaultEvent, Progress, RunEnvironment, RunResult } from './internal/runner.js';
export { encodeBody, simulate } from './internal/simulate.js';
export type { SimulateOptions } from './internal/simulate.js';
export { startFakeTier } from './internal/fake-tier.js';
export { startRealTier } from './internal/real-tier.js';
export type { RealTierOptions } from './internal/real-tier.js';
export type { IngestTier } from './internal/tier.js';
export type { Timers, Transport, OutgoingWrite, SendResult } from './internal/replica.js';
export { realTimers } from './internal/real-timers.js';
