import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { MAX_REGEX_BYTES } from '@promha/storage';
import { MAX_SELECTOR_BYTES } from './internal/selector.js';
import { autoWorkers, ConfigError, envName, flagTable, parseDuration, parseListenAddress, parseSize, resolveConfig } from './config.js';

function run(argv: string[], env: Record<string, string> = {}) {
  const r = resolveConfig(argv, env);
  if (r.kind !== 'run') throw new Error('expected a config');
  return r.config;
}

describe('resolveConfig', () => {
  it('has the documented defaults', () => {
    const c = run([]);
    expect(c.listenAddress).toEqual({ host: '0.0.0.0', port: 9201 });
    expect(c.dbUri).toBeUndefined();
    expect(c.highAvailability).toBe(true);
    expect([c.clusterLabel, c.replicaLabel]).toEqual(['cluster', '__replica__']);
    expect([c.leaseTimeoutMs, c.leaseRefreshMs]).toEqual([30_000, 5_000]);
    expect(c.maxBodyBytes).toBe(16 * 1024 * 1024);
    expect(c.maxDecodedBytes).toBe(64 * 1024 * 1024);
    expect(c.retentionMs).toBe(90 * 86_400_000);
    expect(c.workers).toBe(Math.max(1, availableParallelism() - 1)); // the embedded database keeps a core
    expect([c.maxSelectorBytes, c.maxRegexBytes]).toEqual([MAX_SELECTOR_BYTES, MAX_REGEX_BYTES]);
    expect(c.labelPairCacheMax).toBe(262_144);
    expect(c.dbStatementsCache).toBe(true);
  });

  it('takes --db.statements-cache as a boolean, as Promscale did', () => {
    expect(run(['--db.statements-cache=false']).dbStatementsCache).toBe(false);
    expect(() => run(['--db.statements-cache=sometimes'])).toThrow(/--db.statements-cache/);
  });

  it('takes --cache.label-pairs-max as an integer of 0 or more', () => {
    expect(run(['--cache.label-pairs-max=0']).labelPairCacheMax).toBe(0);
    expect(() => run(['--cache.label-pairs-max=-1'])).toThrow(/--cache.label-pairs-max/);
  });

  it('leaves one core to the embedded database under --workers=auto, and every core with --db.uri', () => {
    expect([autoWorkers(8, true), autoWorkers(8, false), autoWorkers(2, true), autoWorkers(1, true), autoWorkers(1, false)]).toEqual([7, 8, 1, 1, 1]);
  });

  it('takes --workers as auto or a positive integer', () => {
    expect(run(['--workers=3']).workers).toBe(3);
    expect(run([], { PROMHA_WORKERS: 'auto' }).workers).toBe(Math.max(1, availableParallelism() - 1));
    expect(run(['--workers=auto', '--db.uri=postgres://db/promha']).workers).toBe(availableParallelism());
    expect(() => run(['--workers=0'])).toThrow(/--workers: "0" is not a positive integer/);
  });

  it('prefers flags over environment over defaults', () => {
    const env = { PROMHA_HA_LEASE_TIMEOUT: '1m', PROMHA_DB_URI: 'postgres://env/db', PROMHA_LOG_LEVEL: 'warn' };
    const c = run(['--ha.lease-timeout=2m', '--db.uri', 'postgres://flag/db'], env);
    expect(c.leaseTimeoutMs).toBe(120_000);
    expect(c.dbUri).toBe('postgres://flag/db');
    expect(c.logLevel).toBe('warn');
  });

  it('takes booleans with =value or as the next argument', () => {
    expect(run(['--metrics.high-availability=false']).highAvailability).toBe(false);
    expect(run(['--metrics.high-availability', 'false']).highAvailability).toBe(false);
    expect(run(['--metrics.high-availability=true'], { PROMHA_METRICS_HIGH_AVAILABILITY: 'false' }).highAvailability).toBe(true);
    expect(run([], { PROMHA_METRICS_HIGH_AVAILABILITY: 'false' }).highAvailability).toBe(false);
  });

  it('takes Promscale spellings: one dash, and a boolean given bare', () => {
    expect(run(['--metrics.high-availability', '--log.level=debug']).highAvailability).toBe(true);
    expect(run(['-metrics.high-availability', 'false']).highAvailability).toBe(false);
    const c = run(['-metrics.high-availability', '-web.listen-address=:9301', '-log.level', 'debug'], { PROMHA_METRICS_HIGH_AVAILABILITY: 'false' });
    expect([c.highAvailability, c.listenAddress.port, c.logLevel]).toEqual([true, 9301, 'debug']);
    expect(() => run(['-x'])).toThrow(/Unknown option/);
  });

  it('takes the last of a repeated flag, and a value starting with a dash only after =', () => {
    expect(run(['--ha.cluster-label=a', '--ha.cluster-label', 'b']).clusterLabel).toBe('b');
    expect(run(['--ha.cluster-label=-x']).clusterLabel).toBe('-x');
  });

  it.each([
    [['--nope'], /Unknown option '--nope' \(see --help\)/],
    [['stray'], /Unexpected argument 'stray'/],
    [['--ha.lease-timeout=soon'], /--ha.lease-timeout.*not a duration/],
    [['--ha.lease-refresh=30s'], /must be less than --ha.lease-timeout/],
    [['--web.listen-address=9201'], /not a listen address/],
    [['--web.max-body-bytes=lots'], /not a size/],
    [['--web.tls-cert-file=a.pem'], /together/],
    [['--log.format=xml'], /not one of json, logfmt/],
    [['--db.max-connections=0'], /positive integer/],
    [['--db.uri'], /Option '--db.uri <value>' argument missing/],
  ])('refuses %s with a clear message', (argv, message) => {
    expect(() => resolveConfig(argv, {})).toThrow(ConfigError);
    expect(() => resolveConfig(argv, {})).toThrow(message);
  });

  it('names the environment variable of a bad env value', () => {
    expect(() => resolveConfig([], { PROMHA_HA_LEASE_REFRESH: 'x' })).toThrow(/PROMHA_HA_LEASE_REFRESH/);
  });

  it('lists every flag with env and default in --help', () => {
    const r = resolveConfig(['--help'], {});
    expect(r.kind).toBe('help');
    if (r.kind !== 'help') return;
    for (const f of flagTable()) {
      expect(r.text).toContain(`--${f.flag}`);
      expect(r.text).toContain(envName(f.flag));
    }
    for (const required of [
      'web.listen-address', 'db.uri', 'metrics.high-availability', 'ha.cluster-label', 'ha.replica-label',
      'ha.lease-timeout', 'ha.lease-refresh', 'ha.history-retention', 'retention', 'web.max-body-bytes',
      'web.max-decoded-bytes', 'ingest.max-in-flight-samples', 'cache.series-max', 'db.max-connections',
      'web.auth.bearer-token-file', 'web.auth.basic-users-file', 'web.tls-cert-file', 'web.tls-key-file',
      'log.level', 'log.format', 'shutdown-timeout',
    ]) {
      expect(flagTable().map((f) => f.flag)).toContain(required);
    }
  });
});

describe('value parsers', () => {
  it('parses durations', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('90d')).toBe(7_776_000_000);
    expect(() => parseDuration('5')).toThrow();
    expect(() => parseDuration('')).toThrow();
  });
  it('parses sizes', () => {
    expect(parseSize('16MiB')).toBe(16_777_216);
    expect(parseSize('64MB')).toBe(64_000_000);
    expect(parseSize('1024')).toBe(1024);
    expect(() => parseSize('16 parsecs')).toThrow();
  });
  it('parses listen addresses', () => {
    expect(parseListenAddress(':9201')).toEqual({ host: '0.0.0.0', port: 9201 });
    expect(parseListenAddress('localhost:80')).toEqual({ host: 'localhost', port: 80 });
    expect(parseListenAddress('[::1]:9201')).toEqual({ host: '::1', port: 9201 });
    expect(() => parseListenAddress(':70000')).toThrow();
  });
});
