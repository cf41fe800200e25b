/** Stable error codes of the simulator (one registry for the package). */
export const SIM_ERROR_CODES = {
  SIM_BAD_FLAG: 'a command-line flag is missing or malformed',
  SIM_BAD_SCENARIO: 'the scenario is out of range',
  SIM_INGEST_START: 'an ingest instance did not become ready',
  SIM_DATABASE: 'the database could not be started, restarted or read',
  SIM_WIRE: 'a request body could not be encoded or decoded',
} as const;
export type SimErrorCode = keyof typeof SIM_ERROR_CODES;

export class SimError extends Error {
  readonly code: SimErrorCode;
  constructor(code: SimErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SimError';
    this.code = code;
  }
}
