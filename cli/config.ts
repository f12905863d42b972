// Where the CLI finds its control plane and operator token: flags, then environment, then a config file.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { z } from "zod";
import { controlPlaneBase } from "./client";
import { CliError } from "./io";

export interface CliConfig {
  addr: string;
  token: string;
}

export type Env = Record<string, string | undefined>;

const fileSchema = z.object({ addr: z.string().min(1).optional(), token: z.string().min(1).optional() });

/** $LEASEHOLD_CONFIG, else $XDG_CONFIG_HOME/leasehold/config.json, else ~/.config/leasehold/config.json. */
export function cliConfigPath(env: Env = process.env): string {
  const explicit = env["LEASEHOLD_CONFIG"];
  if (explicit) return explicit;
  const xdg = env["XDG_CONFIG_HOME"];
  if (xdg) return join(xdg, "leasehold", "config.json");
  return join(env["HOME"] || homedir(), ".config", "leasehold", "config.json");
}

/** Writes the config file readable by its owner only, creating its directory. */
export function writeCliConfig(config: CliConfig, path: string = cliConfigPath()): string {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // Written beside the target and renamed over it, so a reader never sees half a file and a token
  // never sits in a file with wider permissions, even for a moment.
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify({ addr: config.addr, token: config.token }, null, 2) + "\n", { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
  return path;
}

/** Reads the config file; a missing file is an empty config, a malformed one an error. */
export function readCliConfigFile(path: string): { addr?: string | undefined; token?: string | undefined } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new CliError(`cannot read config file ${path}: ${(err as Error).message}`, [], { cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (cause) {
    throw new CliError(`config file ${path} is not valid JSON`, [], { cause });
  }
  const parsed = fileSchema.safeParse(data);
  if (!parsed.success) throw new CliError(`config file ${path} must be {"addr": "...", "token": "..."}`);
  return parsed.data;
}

/** Each of addr and token comes from the first of: flag, environment, config file. */
export function resolveCliConfig(flags: { addr?: string | undefined; token?: string | undefined }, env: Env): CliConfig {
  const path = cliConfigPath(env);
  const needFile = !(flags.addr || env["LEASEHOLD_ADDR"]) || !(flags.token || env["LEASEHOLD_TOKEN"]);
  const file = needFile ? readCliConfigFile(path) : {};
  const addr = flags.addr || env["LEASEHOLD_ADDR"] || file.addr;
  const token = flags.token || env["LEASEHOLD_TOKEN"] || file.token;
  if (!addr) throw new CliError(`no control plane address: pass --addr, set LEASEHOLD_ADDR, or put "addr" in ${path}`);
  if (!token) throw new CliError(`no operator token: pass --token, set LEASEHOLD_TOKEN, or put "token" in ${path}`);
  let url: URL;
  try {
    url = new URL(addr);
  } catch {
    throw new CliError(`control plane address "${addr}" is not a URL (e.g. http://127.0.0.1:7400)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError(`control plane address "${addr}" must be http:// or https://`);
  return { addr: controlPlaneBase(addr), token };
}
