/**
 * Request authentication. Two schemes, either or both:
 * - bearer: the token is the first line of `--web.auth.bearer-token-file`;
 * - basic: `--web.auth.basic-users-file` has one `user:scrypt$N$r$p$salt$hash` line per user (salt and hash in
 *   base64; `#` comments and blank lines ignored). `hashPassword` (CLI: `promha-ingest hash-password`) makes one.
 *
 * Comparisons are constant-time (both sides digested to equal length first). scrypt is deliberately slow, so a
 * verified `Authorization` header is remembered (as a SHA-256 digest, bounded) and later requests with the same
 * header cost one hash; so is a failed one. At most one scrypt runs at a time and a few wait (SCRYPT_QUEUE_MAX):
 * refusals beyond that cost nothing.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { IngestError } from './errors.js';

/**
 * Decides whether an `Authorization` header value is acceptable: `ok`, `denied` (401), or `busy` (503 with
 * Retry-After: too many password checks are waiting, so this one was not even started).
 */
export interface Authenticator {
  check(authorization: string | undefined): Promise<'ok' | 'denied' | 'busy'>;
}

interface UserEntry {
  readonly n: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, options, (err, key) => (err === null ? resolve(key) : reject(err)));
  });
}

function sha256(s: string | Buffer): Buffer {
  return createHash('sha256').update(s).digest();
}

function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

/** Hashes a password into the users-file form `scrypt$N$r$p$salt$hash`. */
export async function hashPassword(password: string, options: { readonly n?: number } = {}): Promise<string> {
  const n = options.n ?? 16384;
  const r = 8;
  const p = 1;
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, { N: n, r, p, maxmem: 256 * n * r });
  return `scrypt$${n}$${r}$${p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Parses a basic users file; throws IngestError naming the line on a malformed entry. */
export function parseUsersFile(text: string): ReadonlyMap<string, UserEntry> {
  const users = new Map<string, UserEntry>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const parts = line.slice(colon + 1).split('$');
    const [scheme, n, r, p, salt, hash] = parts;
    if (colon <= 0 || parts.length !== 6 || scheme !== 'scrypt' || salt === undefined || hash === undefined) {
      throw new IngestError(
        'PROMHA_INGEST_CONFIG',
        `basic users file line ${i + 1}: expected "user:scrypt$N$r$p$salt$hash" (make one with hash-password)`,
      );
    }
    const entry = {
      n: Number(n),
      r: Number(r),
      p: Number(p),
      salt: Buffer.from(salt, 'base64'),
      hash: Buffer.from(hash, 'base64'),
    };
    if (![entry.n, entry.r, entry.p].every((x) => Number.isSafeInteger(x) && x > 0) || entry.hash.length === 0) {
      throw new IngestError('PROMHA_INGEST_CONFIG', `basic users file line ${i + 1}: bad scrypt parameters`);
    }
    users.set(line.slice(0, colon), entry);
  });
  if (users.size === 0) throw new IngestError('PROMHA_INGEST_CONFIG', 'basic users file has no users');
  return users;
}

/** Parses a bearer token file: its first non-empty line, trimmed. */
export function parseTokenFile(text: string): string {
  const token = text.split(/\r?\n/).find((l) => l.trim() !== '')?.trim();
  if (token === undefined) throw new IngestError('PROMHA_INGEST_CONFIG', 'bearer token file is empty');
  return token;
}

const VERIFIED_CACHE_MAX = 1024;
/** Header digests that failed, remembered so that a client repeating wrong credentials costs one hash each time. */
const FAILED_CACHE_MAX = 4096;
/**
 * scrypt runs on libuv's shared thread pool (4 threads by default), which file I/O and DNS share. At most one
 * password check runs at a time and at most this many wait; a request beyond that is answered 503 without any
 * scrypt, so unauthenticated clients cannot exhaust the pool or build an unbounded queue. A client that
 * authenticated once is remembered and never waits here again.
 */
const SCRYPT_QUEUE_MAX = 8;

/** Builds an authenticator from the configured token and users; `undefined` when auth is off. */
export function createAuthenticator(options: {
  readonly bearerToken?: string | undefined;
  readonly basicUsers?: ReadonlyMap<string, UserEntry> | undefined;
}): Authenticator | undefined {
  const { bearerToken, basicUsers } = options;
  if (bearerToken === undefined && basicUsers === undefined) return undefined;
  const verified = new Set<string>();
  const failed = new Set<string>();
  let running = false;
  const waiting: (() => void)[] = [];
  const release = (): void => {
    const next = waiting.shift();
    if (next === undefined) running = false;
    else next();
  };
  return {
    async check(authorization) {
      if (authorization === undefined) return 'denied';
      const space = authorization.indexOf(' ');
      const scheme = authorization.slice(0, space).toLowerCase();
      const credentials = authorization.slice(space + 1).trim();
      if (space <= 0) return 'denied';
      if (scheme === 'bearer' && bearerToken !== undefined) return safeEqual(credentials, bearerToken) ? 'ok' : 'denied';
      if (scheme !== 'basic' || basicUsers === undefined) return 'denied';
      const key = sha256(authorization).toString('base64');
      if (verified.has(key)) return 'ok';
      if (failed.has(key)) return 'denied';
      const decoded = Buffer.from(credentials, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return 'denied';
      if (running) {
        if (waiting.length >= SCRYPT_QUEUE_MAX) return 'busy';
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
      running = true;
      const user = basicUsers.get(decoded.slice(0, colon));
      // Unknown users still pay one scrypt so that timing does not reveal which user names exist.
      const entry = user ?? { n: 16384, r: 8, p: 1, salt: Buffer.alloc(16), hash: Buffer.alloc(32) };
      let got: Buffer;
      try {
        got = await scrypt(decoded.slice(colon + 1), entry.salt, entry.hash.length, {
          N: entry.n,
          r: entry.r,
          p: entry.p,
          maxmem: 256 * entry.n * entry.r,
        });
      } finally {
        release();
      }
      const ok = timingSafeEqual(got, entry.hash) && user !== undefined;
      const remember = ok ? verified : failed;
      if (remember.size >= (ok ? VERIFIED_CACHE_MAX : FAILED_CACHE_MAX)) remember.clear();
      remember.add(key);
      return ok ? 'ok' : 'denied';
    },
  };
}
