/**
 * @module Terminal I/O shared by the CLIs (azcloudhsm_mgmt_util,
 * azcloudhsm_util): one line at a time from stdin.
 *
 * On a TTY, node:readline gives line editing and history, and the prompt is
 * drawn by readline. Otherwise (commands piped in, as the tests do) lines are
 * read in order and each is echoed after its prompt, so the output reads like
 * the guide's transcripts (`server0>loginHSM …`, `Command:  findKey`); secret
 * arguments are masked in that echo.
 */
import * as readline from 'node:readline';

export interface LineSource {
  /** Show `prompt` and resolve with the next line, or undefined at end of input. */
  next(prompt: string, opts?: { secret?: boolean; echo?: (line: string) => string; history?: boolean }): Promise<string | undefined>;
  close(): void;
  readonly tty: boolean;
}

interface HistoryAccess {
  history?: string[];
  _writeToOutput?: (s: string) => void;
}

export function stdinLines(input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stdout): LineSource {
  const tty = Boolean(input.isTTY && output.isTTY);
  const rl = readline.createInterface({ input, output: tty ? output : undefined, terminal: tty, historySize: tty ? 500 : 0, crlfDelay: Infinity });
  const queue: string[] = [];
  const waiters: ((l: string | undefined) => void)[] = [];
  let ended = false;
  let muted = false;
  const access = rl as unknown as HistoryAccess;
  if (tty && access._writeToOutput) {
    const original = access._writeToOutput.bind(rl);
    access._writeToOutput = (s: string) => {
      if (!muted) original(s);
      else if (s.includes('\n')) original('\n');
    };
  }
  rl.on('line', (line) => {
    const w = waiters.shift();
    if (w) w(line);
    else queue.push(line);
  });
  /* Ctrl-C ends the input like Ctrl-D: the tool logs nothing out of order and quits. */
  rl.on('SIGINT', () => rl.close());
  rl.on('close', () => {
    ended = true;
    for (const w of waiters.splice(0)) w(undefined);
  });
  return {
    tty,
    async next(prompt, opts = {}) {
      if (tty) {
        rl.setPrompt(prompt);
        rl.prompt();
        muted = Boolean(opts.secret);
      } else {
        output.write(prompt);
      }
      let line: string | undefined;
      if (queue.length > 0) line = queue.shift();
      else if (ended) line = undefined;
      else line = await new Promise<string | undefined>((r) => waiters.push(r));
      if (tty) {
        muted = false;
        /* Secrets, lines holding a password, and y/n answers stay out of the command history. */
        const drop = opts.secret || opts.history === false || (line !== undefined && opts.echo !== undefined && opts.echo(line) !== line);
        if (line !== undefined && drop && access.history?.[0] === line) access.history.shift();
      } else {
        output.write((line === undefined ? '' : opts.secret ? '' : opts.echo ? opts.echo(line) : line) + '\n');
      }
      return line;
    },
    close() {
      rl.close();
    },
  };
}
