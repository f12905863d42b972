// What a CLI run talks to (input and output streams, environment, fetch) and the one error type commands throw.

export interface Writable {
  /** Text, or bytes for output that is not text (`secret get`). */
  write(chunk: string | Uint8Array): unknown;
  /** A terminal: progress may be redrawn in place. Absent (a pipe, a file, a test's buffer) means no. */
  isTTY?: boolean;
  /** The terminal's width, when it is one. */
  columns?: number;
}

/** What a command reads piped input from (`secret put NAME < file`). */
export interface Readable extends AsyncIterable<string | Uint8Array> {
  /** A terminal: nobody is piping anything in, and reading would wait for someone to type. */
  isTTY?: boolean;
}

export interface CliIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  env: Record<string, string | undefined>;
  fetch: typeof fetch;
  /** Aborts a command that runs until interrupted (events -f), as Ctrl-C does; for callers that embed the CLI. */
  interrupt?: AbortSignal;
}

/**
 * A signal for a command that runs until interrupted: aborted by SIGINT or SIGTERM, or by io.interrupt.
 * Call release() when the command ends, so the process's signals behave as before.
 */
export function interruption(io: CliIo): { signal: AbortSignal; release: () => void } {
  const stop = new AbortController();
  const abort = () => stop.abort();
  process.once("SIGINT", abort);
  process.once("SIGTERM", abort);
  if (io.interrupt?.aborted) stop.abort();
  io.interrupt?.addEventListener("abort", abort, { once: true });
  return {
    signal: stop.signal,
    release() {
      process.off("SIGINT", abort);
      process.off("SIGTERM", abort);
      io.interrupt?.removeEventListener("abort", abort);
    },
  };
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

/**
 * Any error, reported as it would be on its own, but with this exit code: for a command whose codes differ
 * from the others' (plan: 255 for every error).
 */
export class ExitCodeError extends Error {
  override name = "ExitCodeError";
  constructor(
    readonly exitCode: number,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/** Ends the run with this code and prints nothing more: an answer for scripts, not a failure (plan's 1). */
export class ExitWith extends Error {
  override name = "ExitWith";
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

export function defaultIo(): CliIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, fetch: globalThis.fetch };
}

/**
 * A reader that went away (`leasehold status -o json | head -1`) ends the run quietly, with 0: there is
 * nobody left to tell, and the reader chose to stop reading. Other stream errors stay loud.
 */
export function exitQuietlyOnBrokenPipe(streams: NodeJS.WritableStream[], exit: (code: number) => void = (code) => process.exit(code)): void {
  for (const stream of streams) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") throw err;
      exit(0);
    });
  }
}

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** Sleeps `ms`, or less if `signal` aborts first. */
export function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
