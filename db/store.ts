// The store handed to the control plane: the drizzle database and the raw client for batched hot paths.
import type { Client } from "@libsql/client";
import type { LibSQLDatabase } from "drizzle-orm/libsql";
// The web entry only wraps a client we pass in, so it is safe on Workers and Node alike.
import { drizzle } from "drizzle-orm/libsql/web";
import * as schema from "./schema";
import { TimedClient, type StoreTiming } from "./timed-client";

export type Db = LibSQLDatabase<typeof schema>;

export interface Store {
  db: Db;
  /** Raw client: hot paths (claim, heartbeat, plan apply) send one batch per request through it. */
  client: Client;
}

export function createStore(client: Client): Store {
  return { db: drizzle(client, { schema }), client };
}

/** The same store with every call to it timed (see timed-client.ts): its client and the drizzle database over it. */
export function timedStore(store: Store, timing: StoreTiming): Store {
  return createStore(new TimedClient(store.client, timing));
}
