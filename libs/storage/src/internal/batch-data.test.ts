import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { copyIn } from './batch-data.js';

/** A COPY stream as pg-copy-streams makes one: it takes the data, then pg reports the outcome on it. */
function copyStream(): Writable {
  return new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
    final() {
      // Never finishes by itself: the server's answer decides (here: the errors the test emits).
    },
  });
}

describe('copyIn', () => {
  it("fails with the first error, and a second one (pg's read timeout, then the closed connection) reaches a listener", async () => {
    const copy = copyStream();
    const done = copyIn(copy, Uint8Array.of(1, 2, 3));
    copy.emit('error', new Error('Query read timeout'));
    await expect(done).rejects.toThrow('Query read timeout');
    // Without a listener this emit throws, which in the service is an uncaught exception that ends the process.
    expect(() => copy.emit('error', new Error('Connection terminated'))).not.toThrow();
  });

  it('settles when the stream finishes', async () => {
    const copy = new Writable({
      write(_chunk, _encoding, done) {
        done();
      },
    });
    await expect(copyIn(copy, Uint8Array.of(1))).resolves.toBeUndefined();
  });
});
