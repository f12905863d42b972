// Test-only Hrana-over-HTTP server (JSON v2/v3) over the native libsql engine; never shipped, stands in for sqld.
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import Database from "libsql";
import { scanSql } from "./sql-scan.ts";
import type { SqlScan } from "./sql-scan.ts";

export interface HranaServerOptions {
  /** SQLite database file. Every stream opens its own connection to it, so ":memory:" is rejected. */
  path: string;
  /** TCP port on 127.0.0.1; 0 or omitted picks a free one. */
  port?: number;
  /** How long a statement keeps retrying on SQLITE_BUSY before the error is returned (default 5000). */
  busyTimeoutMs?: number;
  /** Streams (batons) idle longer than this are rolled back and closed (default 10000, like sqld). */
  streamIdleTimeoutMs?: number;
  /** Run `PRAGMA foreign_keys = ON` on every connection (default false, SQLite's own default). */
  foreignKeys?: boolean;
}

export interface HranaServer {
  /** Base URL for `createClient({ url })`, e.g. http://127.0.0.1:40123 */
  url: string;
  close(): Promise<void>;
}

type Db = Database.Database;
type Value = null | bigint | number | string | Uint8Array;

type JsonValue =
  | { type: "null" }
  | { type: "integer"; value: string }
  | { type: "float"; value: number }
  | { type: "text"; value: string }
  | { type: "blob"; base64: string };

interface JsonCol {
  name: string | null;
  decltype: string | null;
}

interface JsonStmtResult {
  cols: JsonCol[];
  rows: JsonValue[][];
  affected_row_count: number;
  last_insert_rowid: string | null;
}

interface JsonError {
  message: string;
  code: string;
}

interface JsonBatchResult {
  step_results: (JsonStmtResult | null)[];
  step_errors: (JsonError | null)[];
}

interface Stmt {
  sql: string | undefined;
  sqlId: number | undefined;
  args: Value[];
  namedArgs: { name: string; value: Value }[];
  wantRows: boolean;
}

type BatchCond =
  | { type: "ok"; step: number }
  | { type: "error"; step: number }
  | { type: "not"; cond: BatchCond }
  | { type: "and"; conds: BatchCond[] }
  | { type: "or"; conds: BatchCond[] }
  | { type: "is_autocommit" };

interface BatchStep {
  condition: BatchCond | undefined;
  stmt: Stmt;
}

type CursorEntry =
  | { type: "step_begin"; step: number; cols: JsonCol[] }
  | { type: "row"; row: JsonValue[] }
  | { type: "step_end"; affected_row_count: number; last_insert_rowid: string | null }
  | { type: "step_error"; step: number; error: JsonError };

interface StreamState {
  id: number;
  db: Db;
  counters: Database.Statement;
  totalChanges: bigint;
  sqls: Map<number, string>;
  baton: string | null;
  busy: boolean;
  closed: boolean;
  /** Set when a statement was abandoned on SQLITE_BUSY; see withBusyRetry. */
  poisoned: boolean;
  lastUsed: number;
}

/** An error reported to the client inside a Hrana result (SQL errors and per-request failures). */
class HranaError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** A malformed request: answered with HTTP 400 and a JSON error body. */
class ProtocolError extends Error {
  constructor(
    message: string,
    readonly code = "PROTO_ERROR",
  ) {
    super(message);
  }
}

const PRIMARY_CODES: readonly string[] = [
  "SQLITE_OK", "SQLITE_ERROR", "SQLITE_INTERNAL", "SQLITE_PERM", "SQLITE_ABORT", "SQLITE_BUSY",
  "SQLITE_LOCKED", "SQLITE_NOMEM", "SQLITE_READONLY", "SQLITE_INTERRUPT", "SQLITE_IOERR",
  "SQLITE_CORRUPT", "SQLITE_NOTFOUND", "SQLITE_FULL", "SQLITE_CANTOPEN", "SQLITE_PROTOCOL",
  "SQLITE_EMPTY", "SQLITE_SCHEMA", "SQLITE_TOOBIG", "SQLITE_CONSTRAINT", "SQLITE_MISMATCH",
  "SQLITE_MISUSE", "SQLITE_NOLFS", "SQLITE_AUTH", "SQLITE_FORMAT", "SQLITE_RANGE", "SQLITE_NOTADB",
  "SQLITE_NOTICE", "SQLITE_WARNING",
];
const SQLITE_BUSY = 5;
const SQLITE_BUSY_SNAPSHOT = 517;
const MIN_I64 = -(2n ** 63n);
const MAX_I64 = 2n ** 63n - 1n;

function sqliteRawCode(error: unknown): number | undefined {
  if (error instanceof Database.SqliteError && typeof error.rawCode === "number") return error.rawCode;
  return undefined;
}

/** SQLITE_BUSY and its extended codes that a retry can resolve (not BUSY_SNAPSHOT). */
function isBusy(error: unknown): boolean {
  const raw = sqliteRawCode(error);
  return raw !== undefined && (raw & 0xff) === SQLITE_BUSY && raw !== SQLITE_BUSY_SNAPSHOT;
}

/** Maps anything thrown while executing SQL to a Hrana error with sqld-style primary codes. */
function toHranaError(error: unknown): JsonError {
  if (error instanceof HranaError) return { message: error.message, code: error.code };
  if (error instanceof Database.SqliteError) {
    const raw = sqliteRawCode(error);
    const primary = raw === undefined ? undefined : PRIMARY_CODES[raw & 0xff];
    const code = primary ?? PRIMARY_CODES.find((c) => error.code.startsWith(c)) ?? error.code;
    return { message: `SQLite error: ${error.message}`, code };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { message, code: "SQLITE_ERROR" };
}

// ---------------------------------------------------------------------------------------------
// JSON decoding of requests
// ---------------------------------------------------------------------------------------------

type JsonObject = Record<string, unknown>;

function asObject(value: unknown, what: string): JsonObject {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ProtocolError(`Expected ${what} to be an object`);
  }
  return value as JsonObject;
}

function asArray(value: unknown, what: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ProtocolError(`Expected ${what} to be an array`);
  return value;
}

function asString(value: unknown, what: string): string {
  if (typeof value !== "string") throw new ProtocolError(`Expected ${what} to be a string`);
  return value;
}

function asOptString(value: unknown, what: string): string | undefined {
  return value === undefined || value === null ? undefined : asString(value, what);
}

function asInt(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new ProtocolError(`Expected ${what} to be a non-negative integer`);
  }
  return value;
}

function asOptInt(value: unknown, what: string): number | undefined {
  return value === undefined || value === null ? undefined : asInt(value, what);
}

function decodeValue(raw: unknown): Value {
  const obj = asObject(raw, "value");
  const type = asString(obj["type"], "value.type");
  switch (type) {
    case "null":
      return null;
    case "integer": {
      const text = typeof obj["value"] === "number" ? String(obj["value"]) : asString(obj["value"], "integer value");
      if (!/^-?\d+$/.test(text)) throw new ProtocolError(`Invalid integer value ${JSON.stringify(text)}`);
      const int = BigInt(text);
      if (int < MIN_I64 || int > MAX_I64) throw new ProtocolError("Integer value out of 64-bit range");
      return int;
    }
    case "float": {
      const value = obj["value"];
      if (typeof value !== "number") throw new ProtocolError("Expected float value to be a number");
      return value;
    }
    case "text":
      return asString(obj["value"], "text value");
    case "blob":
      return new Uint8Array(Buffer.from(asOptString(obj["base64"], "blob base64") ?? "", "base64"));
    default:
      throw new ProtocolError(`Unknown value type ${JSON.stringify(type)}`);
  }
}

function decodeStmt(raw: unknown): Stmt {
  const obj = asObject(raw, "stmt");
  const sql = asOptString(obj["sql"], "stmt.sql");
  const sqlId = asOptInt(obj["sql_id"], "stmt.sql_id");
  if ((sql === undefined) === (sqlId === undefined)) {
    throw new ProtocolError("Exactly one of stmt.sql and stmt.sql_id must be given");
  }
  const args = asArray(obj["args"], "stmt.args").map(decodeValue);
  const namedArgs = asArray(obj["named_args"], "stmt.named_args").map((entry) => {
    const arg = asObject(entry, "named arg");
    return { name: asString(arg["name"], "named arg name"), value: decodeValue(arg["value"]) };
  });
  const wantRows = obj["want_rows"] === undefined || obj["want_rows"] === null ? true : obj["want_rows"] === true;
  return { sql, sqlId, args, namedArgs, wantRows };
}

function decodeCond(raw: unknown): BatchCond {
  const obj = asObject(raw, "batch condition");
  const type = asString(obj["type"], "condition type");
  switch (type) {
    case "ok":
    case "error":
      return { type, step: asInt(obj["step"], "condition step") };
    case "not":
      return { type, cond: decodeCond(obj["cond"]) };
    case "and":
    case "or":
      return { type, conds: asArray(obj["conds"], "condition conds").map(decodeCond) };
    case "is_autocommit":
      return { type };
    default:
      throw new ProtocolError(`Unknown batch condition ${JSON.stringify(type)}`);
  }
}

function decodeBatch(raw: unknown): BatchStep[] {
  const obj = asObject(raw, "batch");
  return asArray(obj["steps"], "batch.steps").map((entry) => {
    const step = asObject(entry, "batch step");
    const condition = step["condition"] === undefined || step["condition"] === null ? undefined : decodeCond(step["condition"]);
    return { condition, stmt: decodeStmt(step["stmt"]) };
  });
}

// ---------------------------------------------------------------------------------------------
// Execution
// ---------------------------------------------------------------------------------------------

function encodeValue(value: unknown): JsonValue {
  if (value === null || value === undefined) return { type: "null" };
  if (typeof value === "bigint") return { type: "integer", value: value.toString() };
  if (typeof value === "number") {
    // JSON has no Infinity/NaN; sqld's serializer degrades these the same way.
    return Number.isFinite(value) ? { type: "float", value } : { type: "null" };
  }
  if (typeof value === "string") return { type: "text", value };
  if (value instanceof Uint8Array) return { type: "blob", base64: Buffer.from(value).toString("base64") };
  return { type: "text", value: String(value) };
}

function stripSigil(name: string): string {
  return /^[:@$#]/.test(name) ? name.slice(1) : name;
}

/** Binds like sqld: positional or named (matched with or without the sigil), every parameter needs a value. */
function bindArgs(scan: SqlScan, stmt: Stmt): Value[] {
  if (stmt.args.length > 0 && stmt.namedArgs.length > 0) {
    throw new HranaError("Statement has both positional and named arguments", "ARGS_BOTH_POSITIONAL_AND_NAMED");
  }
  if (stmt.args.length + stmt.namedArgs.length > scan.paramCount) {
    const given = stmt.args.length + stmt.namedArgs.length;
    throw new HranaError(`Too many arguments: expected ${scan.paramCount}, got ${given}`, "ARGS_INVALID");
  }
  const named = new Map<string, Value>();
  for (const { name, value } of stmt.namedArgs) named.set(name, value);
  // Values may be null, so lookups are chained on `undefined` only.
  const positional = (index: number): Value | undefined => (index <= stmt.args.length ? stmt.args[index - 1] : undefined);
  const byName = (name: string): Value | undefined => (named.has(name) ? named.get(name) : undefined);
  const out: Value[] = [];
  for (let index = 1; index <= scan.paramCount; index++) {
    const name = scan.params.find((p) => p.index === index)?.name ?? null;
    let value = positional(index);
    if (value === undefined && name !== null) value = byName(name);
    if (value === undefined && name !== null) value = byName(stripSigil(name));
    if (value === undefined) {
      throw new HranaError(`Value for parameter ${name ?? String(index)} not found`, "ARGS_INVALID");
    }
    out.push(value);
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class HranaServerImpl {
  readonly #path: string;
  readonly #busyTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #foreignKeys: boolean;
  readonly #streams = new Map<number, StreamState>();
  #nextStreamId = 1;
  #batonSeq = 0;

  constructor(opts: HranaServerOptions) {
    this.#path = opts.path;
    this.#busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
    this.#idleTimeoutMs = opts.streamIdleTimeoutMs ?? 10_000;
    this.#foreignKeys = opts.foreignKeys ?? false;
  }

  openConnection(): Db {
    // Native busy timeout 0: SQLITE_BUSY is retried asynchronously (see withBusyRetry).
    const db = new Database(this.#path, { timeout: 0 });
    db.exec("PRAGMA busy_timeout = 0");
    db.exec("PRAGMA synchronous = NORMAL");
    if (this.#foreignKeys) db.exec("PRAGMA foreign_keys = ON");
    return db;
  }

  // --- streams --------------------------------------------------------------------------------

  openStream(): StreamState {
    const db = this.openConnection();
    const counters = db.prepare("SELECT changes(), total_changes(), last_insert_rowid()");
    counters.raw(true).safeIntegers(true);
    const stream: StreamState = {
      id: this.#nextStreamId++,
      db,
      counters,
      totalChanges: 0n,
      sqls: new Map(),
      baton: null,
      busy: false,
      closed: false,
      poisoned: false,
      lastUsed: Date.now(),
    };
    this.#streams.set(stream.id, stream);
    return stream;
  }

  /** Finds the stream a baton belongs to and takes it for the duration of one HTTP request. */
  acquireStream(baton: string | undefined): StreamState {
    if (baton === undefined) {
      const stream = this.openStream();
      stream.busy = true;
      return stream;
    }
    const id = Number(baton.split(".")[0]);
    const stream = this.#streams.get(id);
    if (stream === undefined || stream.closed || stream.busy || stream.baton !== baton) {
      throw new ProtocolError("The stream has expired or the baton is invalid", "STREAM_EXPIRED");
    }
    stream.busy = true;
    stream.baton = null;
    return stream;
  }

  /** Ends one HTTP request on a stream and returns the baton for the next one (null once closed). */
  releaseStream(stream: StreamState): string | null {
    stream.busy = false;
    stream.lastUsed = Date.now();
    if (stream.closed) return null;
    stream.baton = `${stream.id}.${++this.#batonSeq}.${randomBytes(8).toString("hex")}`;
    return stream.baton;
  }

  closeStream(stream: StreamState): void {
    if (stream.closed) return;
    stream.closed = true;
    stream.baton = null;
    this.#streams.delete(stream.id);
    // The engine only really closes a connection once its statement objects are garbage-collected,
    // so an open transaction is rolled back explicitly to release its locks now.
    try {
      if (stream.db.inTransaction) stream.db.exec("ROLLBACK");
    } catch {
      // Nothing more can be done for this connection; it is dropped either way.
    }
    stream.db.close();
  }

  expireIdleStreams(): void {
    const now = Date.now();
    for (const stream of Array.from(this.#streams.values())) {
      if (!stream.busy && now - stream.lastUsed > this.#idleTimeoutMs) this.closeStream(stream);
    }
  }

  closeAll(): void {
    for (const stream of Array.from(this.#streams.values())) this.closeStream(stream);
  }

  // --- statements ------------------------------------------------------------------------------

  /**
   * Prepares `sql` and runs it, retrying on SQLITE_BUSY without blocking the event loop.
   *
   * The engine is synchronous, so a native busy timeout would also freeze the stream that holds the
   * lock; instead the native timeout is 0 and the *same* statement object is stepped again here
   * (SQLite's documented way to retry a busy statement). The engine has no sqlite3_reset(), so a
   * statement that is finally given up on stays pending and would swallow later writes on its
   * connection into a transaction that never ends: the stream is poisoned and only accepts `close`.
   */
  async withBusyRetry<T>(stream: StreamState, sql: string, run: (prepared: Database.Statement) => T): Promise<T> {
    const deadline = Date.now() + this.#busyTimeoutMs;
    let delay = 1;
    let prepared: Database.Statement | undefined;
    for (;;) {
      try {
        prepared ??= stream.db.prepare(sql);
        return run(prepared);
      } catch (error) {
        if (!isBusy(error)) throw error;
        if (Date.now() >= deadline) {
          if (prepared !== undefined) stream.poisoned = true;
          throw error;
        }
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 20);
    }
  }

  resolveSql(stream: StreamState, sql: string | undefined, sqlId: number | undefined): string {
    if (sql !== undefined) return sql;
    const stored = sqlId === undefined ? undefined : stream.sqls.get(sqlId);
    if (stored === undefined) throw new HranaError(`SQL text with id ${String(sqlId)} was not found`, "SQL_NOT_FOUND");
    return stored;
  }

  scanSingle(sql: string): SqlScan {
    const scan = scanSql(sql);
    if (scan.statements === 0) throw new HranaError("SQL string does not contain any statement", "SQL_NO_STATEMENT");
    if (scan.statements > 1) throw new HranaError("SQL string contains more than one statement", "SQL_MANY_STATEMENTS");
    return scan;
  }

  readCounters(stream: StreamState): { changed: number; lastInsertRowid: string } {
    const row = stream.counters.all() as unknown[][];
    const [changes, total, rowid] = row[0] ?? [];
    const totalChanges = typeof total === "bigint" ? total : 0n;
    const changed = totalChanges !== stream.totalChanges && typeof changes === "bigint" ? Number(changes) : 0;
    stream.totalChanges = totalChanges;
    return { changed, lastInsertRowid: typeof rowid === "bigint" ? rowid.toString() : "0" };
  }

  assertUsable(stream: StreamState): void {
    if (stream.poisoned) {
      throw new HranaError("The stream gave up on a statement after a busy timeout and must be closed", "SQLITE_BUSY");
    }
  }

  async executeStmt(stream: StreamState, stmt: Stmt): Promise<JsonStmtResult> {
    this.assertUsable(stream);
    const sql = this.resolveSql(stream, stmt.sql, stmt.sqlId);
    const scan = this.scanSingle(sql);
    const args = bindArgs(scan, stmt);
    return this.withBusyRetry(stream, sql, (prepared) => {
      let cols: JsonCol[] = [];
      let rows: JsonValue[][] = [];
      if (prepared.reader) {
        cols = prepared.columns().map((c) => ({ name: c.name, decltype: c.type }));
        const raw = prepared.raw(true).safeIntegers(true).all(args) as unknown[][];
        if (stmt.wantRows) rows = raw.map((row) => row.map(encodeValue));
      } else {
        prepared.run(args);
      }
      const { changed, lastInsertRowid } = this.readCounters(stream);
      return { cols, rows, affected_row_count: changed, last_insert_rowid: lastInsertRowid };
    });
  }

  evalCond(stream: StreamState, cond: BatchCond, result: JsonBatchResult): boolean {
    switch (cond.type) {
      case "ok":
        return result.step_results[cond.step] != null;
      case "error":
        return result.step_errors[cond.step] != null;
      case "not":
        return !this.evalCond(stream, cond.cond, result);
      case "and":
        return cond.conds.every((c) => this.evalCond(stream, c, result));
      case "or":
        return cond.conds.some((c) => this.evalCond(stream, c, result));
      case "is_autocommit":
        return !stream.db.inTransaction;
    }
  }

  async executeBatch(stream: StreamState, steps: BatchStep[]): Promise<JsonBatchResult> {
    const result: JsonBatchResult = { step_results: [], step_errors: [] };
    for (const step of steps) {
      if (step.condition !== undefined && !this.evalCond(stream, step.condition, result)) {
        result.step_results.push(null);
        result.step_errors.push(null);
        continue;
      }
      try {
        result.step_results.push(await this.executeStmt(stream, step.stmt));
        result.step_errors.push(null);
      } catch (error) {
        if (error instanceof ProtocolError) throw error;
        result.step_results.push(null);
        result.step_errors.push(toHranaError(error));
      }
    }
    return result;
  }

  executeSequence(stream: StreamState, sql: string): void {
    // Not retried on SQLITE_BUSY: earlier statements of the sequence may already have run.
    try {
      stream.db.exec(sql);
    } finally {
      this.readCounters(stream);
    }
  }

  describe(stream: StreamState, sql: string): unknown {
    const scan = this.scanSingle(sql);
    const prepared = stream.db.prepare(sql);
    const cols = prepared.reader ? prepared.columns().map((c) => ({ name: c.name, decltype: c.type })) : [];
    const params: { name: string | null }[] = [];
    for (let index = 1; index <= scan.paramCount; index++) {
      params.push({ name: scan.params.find((p) => p.index === index)?.name ?? null });
    }
    let isReadonly = true;
    if (!scan.isExplain) {
      // sqlite3_stmt_readonly() is not exposed by the engine; a write transaction opcode is the same signal.
      const program = stream.db.prepare(`EXPLAIN ${sql}`).raw(true).all([]) as unknown[][];
      isReadonly = !program.some((op) => op[1] === "Transaction" && Number(op[3]) !== 0);
    }
    return { params, cols, is_explain: scan.isExplain, is_readonly: isReadonly };
  }

  async handleRequest(stream: StreamState, raw: unknown): Promise<unknown> {
    const req = asObject(raw, "stream request");
    const type = asString(req["type"], "request type");
    if (stream.closed) {
      return { type: "error", error: { message: "The stream is closed", code: "STREAM_CLOSED" } };
    }
    try {
      if (type !== "close") this.assertUsable(stream);
      switch (type) {
        case "close":
          this.closeStream(stream);
          return ok({ type: "close" });
        case "execute":
          return ok({ type: "execute", result: await this.executeStmt(stream, decodeStmt(req["stmt"])) });
        case "batch":
          return ok({ type: "batch", result: await this.executeBatch(stream, decodeBatch(req["batch"])) });
        case "sequence": {
          const sql = this.resolveSql(stream, asOptString(req["sql"], "sql"), asOptInt(req["sql_id"], "sql_id"));
          this.executeSequence(stream, sql);
          return ok({ type: "sequence" });
        }
        case "describe": {
          const sql = this.resolveSql(stream, asOptString(req["sql"], "sql"), asOptInt(req["sql_id"], "sql_id"));
          return ok({ type: "describe", result: this.describe(stream, sql) });
        }
        case "store_sql": {
          const sqlId = asInt(req["sql_id"], "sql_id");
          if (stream.sqls.has(sqlId)) throw new HranaError(`SQL text with id ${sqlId} already exists`, "SQL_EXISTS");
          stream.sqls.set(sqlId, asString(req["sql"], "sql"));
          return ok({ type: "store_sql" });
        }
        case "close_sql":
          stream.sqls.delete(asInt(req["sql_id"], "sql_id"));
          return ok({ type: "close_sql" });
        case "get_autocommit":
          return ok({ type: "get_autocommit", is_autocommit: !stream.db.inTransaction });
        default:
          throw new ProtocolError(`Unknown stream request type ${JSON.stringify(type)}`);
      }
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      return { type: "error", error: toHranaError(error) };
    }
  }

  async pipeline(body: unknown): Promise<unknown> {
    const obj = asObject(body, "pipeline request");
    const requests = asArray(obj["requests"], "requests");
    const stream = this.acquireStream(asOptString(obj["baton"], "baton"));
    const results: unknown[] = [];
    try {
      for (const request of requests) results.push(await this.handleRequest(stream, request));
    } catch (error) {
      this.closeStream(stream);
      throw error;
    } finally {
      stream.busy = false;
    }
    return { baton: this.releaseStream(stream), base_url: null, results };
  }

  async cursor(body: unknown): Promise<string> {
    const obj = asObject(body, "cursor request");
    const stream = this.acquireStream(asOptString(obj["baton"], "baton"));
    const entries: CursorEntry[] = [];
    try {
      const steps = decodeBatch(obj["batch"]);
      const result = await this.executeBatch(stream, steps);
      steps.forEach((_step, i) => {
        const stepResult = result.step_results[i];
        const stepError = result.step_errors[i];
        if (stepResult != null) {
          entries.push({ type: "step_begin", step: i, cols: stepResult.cols });
          for (const row of stepResult.rows) entries.push({ type: "row", row });
          entries.push({
            type: "step_end",
            affected_row_count: stepResult.affected_row_count,
            last_insert_rowid: stepResult.last_insert_rowid,
          });
        } else if (stepError != null) {
          entries.push({ type: "step_error", step: i, error: stepError });
        }
      });
    } catch (error) {
      this.closeStream(stream);
      throw error;
    } finally {
      stream.busy = false;
    }
    const head = { baton: this.releaseStream(stream), base_url: null };
    return [head, ...entries].map((line) => `${JSON.stringify(line)}\n`).join("");
  }
}

function ok(response: unknown): unknown {
  return { type: "ok", response };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ProtocolError("Request body is not valid JSON");
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  // The client only parses error bodies whose content-type is exactly "application/json".
  send(res, status, "application/json", JSON.stringify(body));
}

async function route(impl: HranaServerImpl, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? "/", "http://localhost").pathname.replace(/\/+$/, "") || "/";
  const method = req.method ?? "GET";
  if (method === "GET") {
    // "v3-protobuf" is deliberately 404 so clients that probe for it fall back to JSON.
    if (path === "/" || path === "/v2" || path === "/v3" || path === "/health") return send(res, 200, "text/plain", "ok\n");
    if (path === "/version") return send(res, 200, "text/plain", "hrana-test-server\n");
    return send(res, 404, "text/plain", "Not found\n");
  }
  if (method !== "POST") return send(res, 405, "text/plain", "Method not allowed\n");
  if (path === "/v2/pipeline" || path === "/v3/pipeline") {
    return sendJson(res, 200, await impl.pipeline(parseJson(await readBody(req))));
  }
  if (path === "/v3/cursor") {
    return send(res, 200, "text/plain", await impl.cursor(parseJson(await readBody(req))));
  }
  return send(res, 404, "text/plain", "Not found\n");
}

/** Starts the server on 127.0.0.1. The database is switched to WAL mode on startup. */
export async function startHranaServer(opts: HranaServerOptions): Promise<HranaServer> {
  if (opts.path === "" || opts.path === ":memory:" || opts.path.startsWith("file::memory:")) {
    throw new Error("startHranaServer needs a database file: every stream uses its own connection");
  }
  const impl = new HranaServerImpl(opts);
  // Held open for the server's lifetime so the WAL is not checkpointed and removed whenever the last stream closes.
  const admin = impl.openConnection();
  admin.exec("PRAGMA journal_mode = WAL");

  const server: Server = createServer((req, res) => {
    route(impl, req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
      } else if (error instanceof ProtocolError) {
        sendJson(res, 400, { message: error.message, code: error.code });
      } else {
        send(res, 500, "text/plain", error instanceof Error ? error.message : String(error));
      }
    });
  });
  const sweep = setInterval(() => impl.expireIdleStreams(), 500);
  sweep.unref();

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve, reject) => {
        clearInterval(sweep);
        server.close((error) => {
          impl.closeAll();
          admin.close();
          if (error) reject(error);
          else resolve();
        });
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
