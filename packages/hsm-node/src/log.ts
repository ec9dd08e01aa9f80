/**
 * @module Structured logs: one JSON object per line on stderr. Callers pass
 * fields explicitly; nothing here ever formats a request body, so passwords
 * and key material cannot reach a log by accident.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
type Fields = Record<string, string | number | boolean | undefined>;

let stderrGuarded = false;

export function makeLogger(component: string, fields: Record<string, string | number> = {}) {
  /* A log that cannot be written (a full disk under a log file, a closed pipe) must not take the process down. */
  if (!stderrGuarded) {
    stderrGuarded = true;
    process.stderr.on('error', () => undefined);
  }
  const write = (level: Level, msg: string, more: Fields = {}) => {
    process.stderr.write(JSON.stringify({ t: new Date().toISOString(), level, component, ...fields, msg, ...more }) + '\n');
  };
  return {
    info: (msg: string, more?: Fields) => write('info', msg, more),
    warn: (msg: string, more?: Fields) => write('warn', msg, more),
    error: (msg: string, more?: Fields) => write('error', msg, more),
  };
}
export type Logger = ReturnType<typeof makeLogger>;

/**
 * Log repeated failures (failed handshakes, refused connections) at most
 * `perWindow` times per window and kind; the rest are counted and reported in
 * one line when the next window opens, so a flood cannot fill the disk.
 */
export class RateLimitedLog {
  private readonly counts = new Map<string, { logged: number; suppressed: number; since: number }>();
  constructor(private readonly log: Logger, private readonly perWindow = 10, private readonly windowMs = 60_000) {}

  warn(kind: string, msg: string, more?: Fields, now = Date.now()): void {
    let c = this.counts.get(kind);
    if (!c || now - c.since >= this.windowMs) {
      if (c && c.suppressed > 0) this.log.warn(`${c.suppressed} more of these were not logged`, { kind, windowMs: this.windowMs });
      c = { logged: 0, suppressed: 0, since: now };
      this.counts.set(kind, c);
    }
    if (c.logged < this.perWindow) {
      c.logged++;
      this.log.warn(msg, { kind, ...more });
    } else {
      c.suppressed++;
    }
  }
}
