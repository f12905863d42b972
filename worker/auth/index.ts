// Auth: signing keys, tokens, roles and middleware.
export * from "./keys";
export * from "./middleware";
export * from "./roles";
export * from "./tokens";
