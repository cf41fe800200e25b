/**
 * The native snappy decoder, when the optional `snappy` package (Rust's `snap` crate behind N-API) is installed for
 * this platform. On remote-write bodies it decompresses 3-5x faster than ours (docs/decisions/0004), which every
 * request pays, a non-leader's 202 included. Where it is missing, or turned off, ours runs (../snappy.ts). The caller
 * checks the declared length against its cap before either runs, and both refuse what the other refuses as a
 * {@link CodecError} (a property test compares them).
 */
import { createRequire } from 'node:module';

interface NativeSnappy {
  uncompressSync(input: Uint8Array, options: { readonly asBuffer: true; readonly copyOutputData: true }): Buffer;
}

function load(): NativeSnappy | undefined {
  try {
    const m = createRequire(import.meta.url)('snappy') as Partial<NativeSnappy>;
    return typeof m.uncompressSync === 'function' ? (m as NativeSnappy) : undefined;
  } catch {
    // Not installed (an optional dependency), or no binary for this platform: our decoder runs.
    return undefined;
  }
}

const installed = load();
let enabled = installed !== undefined;

/** The native decoder when it is installed and on. */
export function nativeSnappy(): NativeSnappy | undefined {
  return enabled ? installed : undefined;
}

/** Which snappy decoder runs: `native` (the `snappy` package) or `js` (ours). */
export function snappyDecoder(): 'native' | 'js' {
  return nativeSnappy() === undefined ? 'js' : 'native';
}

/**
 * Turns the native decoder on (where it is installed) or off, for tests that must run ours; returns the decoder
 * in use afterwards.
 */
export function useNativeSnappy(on: boolean): 'native' | 'js' {
  enabled = on && installed !== undefined;
  return snappyDecoder();
}
