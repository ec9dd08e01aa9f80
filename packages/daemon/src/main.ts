#!/usr/bin/env node
/**
 * @module `azcloudhsm_client <azcloudhsm_resource.cfg> [--pid-file <path>]`:
 * the client daemon's command line (the Azure Cloud HSM onboarding guide).
 *
 * SIGHUP re-reads the configuration (the systemd unit's ExecReload);
 * SIGTERM and SIGINT stop it gracefully (exit 0). A bad command line exits 2,
 * a configuration or start-up error exits 1.
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './config.js';
import { Daemon, SocketSetupError } from './server.js';
import { VERSION } from './version.js';
import { helpText } from '../../ops/src/cli_flags.js';
import { daemonMetrics } from '../../ops/src/metrics/daemon.js';
import { startMetricsFromEnv } from '../../ops/src/metrics/http.js';

export const USAGE = 'usage: azcloudhsm_client <azcloudhsm_resource.cfg> [--pid-file <path>]';

export type ParsedArgs =
  | { readonly kind: 'run'; readonly cfg: string; readonly pidFile: string | undefined }
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'error'; readonly message: string };

export function parseDaemonArgs(argv: readonly string[]): ParsedArgs {
  const positional: string[] = [];
  let pidFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') return { kind: 'help' };
    if (a === '--version') return { kind: 'version' };
    if (a === '--pid-file' || a.startsWith('--pid-file=')) {
      const v = a === '--pid-file' ? argv[++i] : a.slice('--pid-file='.length);
      if (v === undefined || v === '') return { kind: 'error', message: '--pid-file needs a path' };
      if (pidFile !== undefined) return { kind: 'error', message: '--pid-file given twice' };
      pidFile = v;
      continue;
    }
    if (a.startsWith('-') && a !== '-') return { kind: 'error', message: `unknown option ${a}` };
    positional.push(a);
  }
  if (positional.length === 0) return { kind: 'error', message: 'the path of azcloudhsm_resource.cfg is missing' };
  if (positional.length > 1) return { kind: 'error', message: `expected one configuration file, got ${positional.length}: ${positional.join(' ')}` };
  return { kind: 'run', cfg: positional[0]!, pidFile: pidFile === undefined ? undefined : resolve(pidFile) };
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseDaemonArgs(argv);
  if (args.kind === 'help') {
    process.stdout.write(helpText({ name: 'azcloudhsm_client', usage: USAGE, description: `The Azure Cloud HSM client daemon (OpenCloudHSM ${VERSION}). See docs/daemon.md.` }));
    return;
  }
  if (args.kind === 'version') {
    process.stdout.write(`azcloudhsm_client (OpenCloudHSM) ${VERSION}\n`);
    return;
  }
  if (args.kind === 'error') {
    process.stderr.write(`azcloudhsm_client: ${args.message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  /*
   * The signals are caught before the daemon says it is listening: a supervisor that signals as
   * soon as it reads that line must find the clean stop, not the default action. A signal during
   * start-up stops the daemon once it has started; a second one exits at once.
   */
  let started: Daemon | undefined;
  let early: string | undefined;
  let signals = 0;
  const stop = (sig: string) => {
    if (++signals > 1) {
      started?.log.warn('second signal: exiting at once', { signal: sig });
      process.exit(1);
    }
    if (!started) {
      early = sig;
      return;
    }
    started.log.info('stopping on a signal', { signal: sig });
    void started.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({ resourcePath: args.cfg, pidFile: args.pidFile });
  } catch (e) {
    const known = e instanceof ConfigError || e instanceof SocketSetupError;
    process.stderr.write(`azcloudhsm_client: ${e instanceof Error ? e.message : String(e)}\n`);
    if (!known && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  }
  /* Prometheus metrics when OCHSM_METRICS names an address (docs/operations.md). */
  daemonMetrics().watchLinks(async () => (await daemon.status()).nodes);
  try {
    const m = await startMetricsFromEnv(daemonMetrics().registry);
    if (m) daemon.log.info('metrics', { url: `http://${m.address.host}:${m.address.port}/metrics` });
  } catch (e) {
    process.stderr.write(`azcloudhsm_client: metrics: ${e instanceof Error ? e.message : String(e)}\n`);
    await daemon.stop(1000);
    process.exit(1);
  }
  process.on('SIGHUP', () => {
    daemon.log.info('SIGHUP: reloading the configuration');
    void daemon.reload();
  });
  started = daemon;
  if (early !== undefined) {
    signals = 0;
    stop(early);
  }
  process.on('uncaughtException', (e) => {
    daemon.log.error('internal error', { error: e, stack: e.stack });
    void daemon.stop(1000).finally(() => process.exit(1));
  });
}

function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) await main(process.argv.slice(2));
