/**
 * @module Structured log lines on stderr: one JSON object per line,
 * `{"t": ISO time, "level": ..., "msg": ..., ...fields}`.
 *
 * Never pass a password, a PIN or key material as a field: the daemon logs
 * user names, node addresses, operation names and error codes only.
 */
import type { LogLevel } from '../../protocol/src/clientcfg.js';

export type { LogLevel };

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A line for humans, exactly as given (the strings the Azure tools print). */
  plain(line: string): void;
  level: LogLevel;
}

function fieldValue(v: unknown): unknown {
  if (v instanceof Error) return { name: v.name, message: v.message, ...('code' in v ? { code: (v as { code: unknown }).code } : {}) };
  return v;
}

/** A logger that writes to `write` (stderr by default). */
export function createLogger(level: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const logger: Logger = {
    level,
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    plain: (line) => write(line.endsWith('\n') ? line : `${line}\n`),
  };
  function emit(lv: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (RANK[lv] < RANK[logger.level]) return;
    const o: Record<string, unknown> = { t: new Date().toISOString(), level: lv, msg };
    if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined && !(k in o)) o[k] = fieldValue(v);
    let line: string;
    try {
      line = JSON.stringify(o);
    } catch {
      line = JSON.stringify({ t: o.t, level: lv, msg });
    }
    write(`${line}\n`);
  }
  return logger;
}

/** A logger that drops everything (tests). */
export const silentLogger = (): Logger => createLogger('error', () => undefined);
