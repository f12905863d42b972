// What a CLI run talks to (output streams, environment, fetch) and the one error type commands throw.

export interface Writable {
  write(chunk: string): unknown;
}

export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  env: Record<string, string | undefined>;
  fetch: typeof fetch;
}

export interface FieldError {
  path: string;
  message: string;
}

/** An error the CLI reports as `error: <message>` (plus one line per field), with this exit code. */
export class CliError extends Error {
  override name = "CliError";
  readonly exitCode: number;
  constructor(
    message: string,
    readonly fields: FieldError[] = [],
    options?: { cause?: unknown; exitCode?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.exitCode = options?.exitCode ?? 1;
  }
}

export function defaultIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, fetch: globalThis.fetch };
}

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
