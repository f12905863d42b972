// drizzle-kit: generates the committed migrations in db/migrations from db/schema.ts.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "turso",
  schema: "./db/schema.ts",
  out: "./db/migrations",
});
