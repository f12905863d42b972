// The store: schema, store factory.
export * from "./schema";
export * from "./store";
