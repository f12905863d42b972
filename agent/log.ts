// The agent's leveled log: pino (JSON lines on stderr) by default, or a sink given by a process that
// embeds the agent (the dev cluster, the benchmark), which then receives each line's level as a field.
import pino from "pino";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** Where an embedding process takes the agent's lines; `fields.level` says how severe each is. */
export type LogSink = (message: string, fields?: LogFields) => void;

const ORDER: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50 };
const LEVELS = Object.keys(ORDER) as LogLevel[];

export function isLogLevel(value: string): value is LogLevel {
  return (LEVELS as string[]).includes(value);
}

/**
 * A logger writing at `level` and above: to `sink` if given, else through pino to `destination`
 * (stderr by default, written synchronously so the last lines before an exit are not lost).
 */
export function createLogger(opts: { level?: LogLevel; sink?: LogSink; destination?: pino.DestinationStream } = {}): Logger {
  const level = opts.level ?? "info";
  if (opts.sink) {
    const sink = opts.sink;
    const at = (l: LogLevel) => (message: string, fields?: LogFields) => {
      if (ORDER[l] >= ORDER[level]) sink(message, { level: l, ...fields });
    };
    return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  }
  const out = pino({ level, base: null, timestamp: pino.stdTimeFunctions.isoTime }, opts.destination ?? pino.destination({ dest: 2, sync: true }));
  return {
    debug: (message, fields) => out.debug(fields ?? {}, message),
    info: (message, fields) => out.info(fields ?? {}, message),
    warn: (message, fields) => out.warn(fields ?? {}, message),
    error: (message, fields) => out.error(fields ?? {}, message),
  };
}

export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** An error's message, for a log field. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
