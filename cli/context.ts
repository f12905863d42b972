// What every command's action gets: the run's io, the global options, and a client built from them.
import type { Command } from "commander";
import { ControlPlaneClient } from "./client";
import { resolveCliConfig } from "./config";
import { formatJson } from "./format";
import type { CliIo } from "./io";

export type OutputFormat = "table" | "json";

export interface GlobalOptions {
  addr?: string;
  token?: string;
  namespace: string;
  output: OutputFormat;
}

export interface CommandContext {
  io: CliIo;
  namespace: string;
  /** True when -n was given, rather than the default. */
  namespaceGiven: boolean;
  output: OutputFormat;
  /** Resolves server and token on first use, so commands that need neither never ask for them. */
  client(): ControlPlaneClient;
  out(text: string): void;
  json(value: unknown): void;
  /** Progress and notes: stderr, so stdout stays the result. */
  note(line: string): void;
}

export function commandContext(cmd: Command, io: CliIo): CommandContext {
  const globals = cmd.optsWithGlobals<GlobalOptions>();
  let client: ControlPlaneClient | undefined;
  return {
    io,
    namespace: globals.namespace,
    namespaceGiven: cmd.getOptionValueSourceWithGlobals("namespace") === "cli",
    output: globals.output,
    client() {
      client ??= new ControlPlaneClient({ ...resolveCliConfig({ addr: globals.addr, token: globals.token }, io.env), fetch: io.fetch });
      return client;
    },
    out: (text) => void io.stdout.write(text.endsWith("\n") ? text : text + "\n"),
    json: (value) => void io.stdout.write(formatJson(value)),
    note: (line) => void io.stderr.write(line + "\n"),
  };
}
