/**
 * @module The one shape of a configuration-file error: which file, and a message that starts with
 * it and says what is wrong and what is allowed. The parsers of this package (appcfg.ts,
 * clientcfg.ts) and the daemon's file reader (packages/daemon/src/config.ts) throw subclasses.
 */
export class CfgFileError extends Error {
  readonly file: string;
  constructor(file: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.file = file;
  }
}
