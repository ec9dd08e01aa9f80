/**
 * @module Structured logs: one JSON object per line on stderr. Callers pass
 * fields explicitly; nothing here ever formats a request body, so passwords
 * and key material cannot reach a log by accident.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';

export function makeLogger(component: string, fields: Record<string, string | number> = {}) {
  const write = (level: Level, msg: string, more: Record<string, string | number | boolean | undefined> = {}) => {
    process.stderr.write(JSON.stringify({ t: new Date().toISOString(), level, component, ...fields, msg, ...more }) + '\n');
  };
  return {
    info: (msg: string, more?: Record<string, string | number | boolean | undefined>) => write('info', msg, more),
    warn: (msg: string, more?: Record<string, string | number | boolean | undefined>) => write('warn', msg, more),
    error: (msg: string, more?: Record<string, string | number | boolean | undefined>) => write('error', msg, more),
  };
}
export type Logger = ReturnType<typeof makeLogger>;
