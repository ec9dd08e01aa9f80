/**
 * @module Command-line parsing for azcloudhsm_util: the line tokenizer and the
 * dash-option parser (`-k 262150 -out key.pem -nex`), with the value checks the
 * commands share. Pure functions; errors are UsageError (the dispatcher then
 * prints the command's syntax).
 */
import { UsageError } from './types.js';

/** `value`: the option takes the next word; `flag`: it stands alone. */
export type OptKind = 'value' | 'flag';
export interface OptSpec {
  readonly [option: string]: OptKind;
}

/** Parsed options: the value of each `value` option, `true` for each flag given. */
export type Opts = ReadonlyMap<string, string | true>;

/**
 * Split one input line into words. White space separates words; "double" or
 * 'single' quotes keep spaces inside one word (labels with spaces). An
 * unterminated quote is a UsageError.
 */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else cur += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
      continue;
    }
    if (/\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      continue;
    }
    cur += ch;
    inWord = true;
  }
  if (quote) throw new UsageError(`Unterminated ${quote === '"' ? 'double' : 'single'} quote`);
  if (inWord) out.push(cur);
  return out;
}

/** Parse dash options against `spec`; every word must be an option or an option's value. */
export function parseOpts(args: readonly string[], spec: OptSpec, required: readonly string[] = []): Opts {
  const out = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const kind = Object.prototype.hasOwnProperty.call(spec, a) ? spec[a] : undefined;
    if (kind === undefined) {
      throw new UsageError(a.startsWith('-') ? `Invalid option ${a}` : `Unexpected argument '${a}': every value follows its option, e.g. -k <key handle>`);
    }
    if (out.has(a)) throw new UsageError(`Option ${a} is given twice`);
    if (kind === 'flag') {
      out.set(a, true);
      continue;
    }
    const v = args[i + 1];
    if (v === undefined) throw new UsageError(`Option ${a} needs a value`);
    out.set(a, v);
    i++;
  }
  const missing = required.filter((r) => !out.has(r));
  if (missing.length > 0) throw new UsageError(`Missing required option${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  return out;
}

/** The string value of a `value` option, or undefined when it was not given. */
export function str(o: Opts, opt: string): string | undefined {
  const v = o.get(opt);
  return typeof v === 'string' ? v : undefined;
}

/** The value of a required option (parseOpts has checked that it is present). */
export function need(o: Opts, opt: string): string {
  const v = str(o, opt);
  if (v === undefined) throw new UsageError(`Missing required option ${opt}`);
  return v;
}

export function flag(o: Opts, opt: string): boolean {
  return o.get(opt) === true;
}

/** A non-negative decimal integer. */
export function integer(v: string, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^[0-9]{1,16}$/.test(v)) throw new UsageError(`Invalid ${what} '${v}': expected a decimal number`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`Invalid ${what} '${v}': expected ${min} to ${max}`);
  return n;
}

/** A key handle: a decimal number of at least 1. */
export function handle(v: string, what = 'key handle'): number {
  return integer(v, what, 1);
}

/** `0` or `1` (the real tool's boolean option values, e.g. `-wrap_with_trusted 1`, `-sess 1`). */
export function zeroOne(v: string, what: string): boolean {
  if (v !== '0' && v !== '1') throw new UsageError(`Invalid ${what} '${v}': expected 0 or 1`);
  return v === '1';
}

/** A number in decimal, or in hex with a 0x prefix (`Error2String -r 0xA3` or `-r 163`). */
export function decOrHex(v: string, what: string): number {
  const m = /^0[xX]([0-9a-fA-F]{1,13})$/.exec(v);
  if (m) return parseInt(m[1]!, 16);
  if (/^[0-9]{1,15}$/.test(v)) return Number(v);
  throw new UsageError(`Invalid ${what} '${v}': expected a decimal number or 0x followed by hex digits`);
}

/** Hex bytes (an IV, an id): an even number of hex digits, optional 0x prefix. */
export function hexBytes(v: string, what: string, length?: number): Buffer {
  const h = v.replace(/^0[xX]/, '');
  if (h.length === 0 || h.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(h)) throw new UsageError(`Invalid ${what} '${v}': expected hex digits`);
  const b = Buffer.from(h, 'hex');
  if (length !== undefined && b.length !== length) throw new UsageError(`Invalid ${what} '${v}': expected ${length} bytes (${length * 2} hex digits)`);
  return b;
}

/**
 * The words of a line with the values of `secret` options replaced by
 * asterisks, for echoing piped input (`loginHSM -u CU -s cu1 -p ********`).
 */
export function maskWords(words: readonly string[], secret: readonly string[]): string[] {
  const out = [...words];
  for (let i = 0; i < out.length - 1; i++) {
    if (secret.includes(out[i]!)) {
      out[i + 1] = '********';
      i++;
    }
  }
  return out;
}
