// A libSQL client that reports how long each call to the store took: the one place store latency is
// measured, since every statement of the control plane (drizzle's too) goes through its Store's client.
import type { Client, InArgs, InStatement, Replicated, ResultSet, Transaction, TransactionMode } from "@libsql/client";

/** execute: one statement; read and write: a batch in one transaction of that mode; batch: one in another mode. */
export type StoreOp = "execute" | "read" | "write" | "batch" | "migrate" | "execute_multiple";

/** Told of every timed call, failed ones included. */
export type StoreTiming = (op: StoreOp, seconds: number, failed: boolean) => void;

/**
 * Delegates to the client it wraps (a class, not a Proxy: the wrapped client keeps private fields, and a
 * call through here costs two clock readings). Interactive transactions are passed through untimed: their
 * statements run on the transaction, not the client, and nothing of ours opens one.
 */
export class TimedClient implements Client {
  constructor(
    private readonly inner: Client,
    private readonly timing: StoreTiming,
  ) {}

  get closed(): boolean {
    return this.inner.closed;
  }

  get protocol(): string {
    return this.inner.protocol;
  }

  execute(stmt: InStatement): Promise<ResultSet>;
  execute(sql: string, args?: InArgs): Promise<ResultSet>;
  execute(stmt: InStatement, args?: InArgs): Promise<ResultSet> {
    return this.timed("execute", () => (typeof stmt === "string" && args !== undefined ? this.inner.execute(stmt, args) : this.inner.execute(stmt)));
  }

  batch(stmts: Array<InStatement | [string, InArgs?]>, mode?: TransactionMode): Promise<ResultSet[]> {
    return this.timed(mode === "read" ? "read" : mode === "write" ? "write" : "batch", () => this.inner.batch(stmts, mode));
  }

  migrate(stmts: InStatement[]): Promise<ResultSet[]> {
    return this.timed("migrate", () => this.inner.migrate(stmts));
  }

  transaction(mode?: TransactionMode): Promise<Transaction> {
    return this.inner.transaction(mode);
  }

  executeMultiple(sql: string): Promise<void> {
    return this.timed("execute_multiple", () => this.inner.executeMultiple(sql));
  }

  sync(): Promise<Replicated> {
    return this.inner.sync();
  }

  close(): void {
    this.inner.close();
  }

  reconnect(): void {
    this.inner.reconnect();
  }

  private async timed<T>(op: StoreOp, call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await call();
      this.timing(op, (performance.now() - started) / 1000, false);
      return result;
    } catch (err) {
      this.timing(op, (performance.now() - started) / 1000, true);
      throw err;
    }
  }
}
