#!/usr/bin/env node
// The leasehold executable: loads the TypeScript CLI through tsx, so it runs straight from a checkout.
import { register } from "tsx/esm/api";

register();
const { main } = await import("./main.ts");
await main();
