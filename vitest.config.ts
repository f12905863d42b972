// Two suites: the Node suite (unit tests beside code, the dashboard's in web/src, integration and Docker tests under test/)
// and the workerd suite under test/workers, which has its own config.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "node",
          include: ["{api,db,worker,agent,cli,test,web/src}/**/*.test.ts"],
          exclude: ["test/workers/**", "node_modules/**"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: "forks",
        },
      },
      "test/workers/vitest.config.ts",
    ],
  },
});
