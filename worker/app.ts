// createApp(deps): the control plane as one Hono app, the same on Workers and on Node.
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { jobSpecJsonSchema } from "../api/job-spec";
import { jwks } from "./auth/keys";
import { nodeAuth, operatorAuth } from "./auth/middleware";
import { createWorkSignal, newId, type AppDeps, type AppEnv, type ResolvedDeps } from "./context";
import { registerDocsRoutes } from "./docs";
import { boundedBody } from "./body";
import { createErrorHandler, notFound, ProblemError, validationError } from "./errors";
import { createJsonLogger } from "./log";
import { createEvaluator, type Evaluator } from "./evaluation";
import { StoreClock } from "./store-clock";
import { EMPTY_KEYRING } from "./secrets/keyring";
import { createFleetTiming, type FleetTiming } from "./leases/timing";
import { registerAgentRoutes } from "./routes/agent";
import { registerAuditRoutes } from "./routes/audit";
import { BOOTSTRAP_PATH, registerBootstrapRoute } from "./routes/bootstrap";
import { registerDeploymentRoutes } from "./routes/deployments";
import { registerEventRoutes } from "./routes/events";
import { registerJobRoutes } from "./routes/jobs";
import { registerLogRoutes } from "./routes/logs";
import { registerFollowRoutes } from "./routes/follow";
import { registerExecRoutes } from "./routes/exec";
import { registerAgentRequestRoutes } from "./routes/agent-requests";
import { registerNamespaceRoutes } from "./routes/namespaces";
import { registerNodeRoutes } from "./routes/nodes";
import { registerPlanRoutes } from "./routes/plan";
import { registerTokenRoutes } from "./routes/tokens";
import { registerSecretRoutes } from "./routes/secrets";
import { registerServiceRoutes } from "./routes/services";
import { registerStatsRoutes } from "./routes/stats";
import { registerMetricsRoute } from "./routes/metrics";
import { createMetricsRegistry, requestMetrics } from "./metrics";
import { timedStore } from "../db/store";
import { rollSecretRotations } from "./secrets/rotate";

export const API_VERSION = "0.1.0";

/** On every answer: no sniffing, no framing, no referrer, and a policy that lets an answer load nothing. */
const SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ["x-content-type-options", "nosniff"],
  ["x-frame-options", "DENY"],
  ["referrer-policy", "no-referrer"],
  ["content-security-policy", "default-src 'none'; frame-ancestors 'none'"],
];

export interface ControlPlane {
  app: OpenAPIHono<AppEnv>;
  evaluator: Evaluator;
  timing: FleetTiming;
  deps: ResolvedDeps;
  /** Resolves when background work started by requests so far has finished. */
  settled(): Promise<void>;
  /** What an instance runs on its timer (Node) or cron (Workers): due evaluations and the backstop sweep. */
  tick(): Promise<void>;
}

export function createControlPlane(input: AppDeps): ControlPlane {
  const metrics = input.metrics ?? createMetricsRegistry();
  const deps: ResolvedDeps = {
    ...input,
    metrics,
    // Every store call of this control plane is timed here, and nowhere else.
    store: timedStore(input.store, (op, seconds, failed) => {
      metrics.observe("leasehold_store_duration_seconds", { op }, seconds);
      if (failed) metrics.inc("leasehold_store_errors_total", { op });
    }),
    // Lease decisions follow the store's clock (see store-clock.ts); up to one lease TTL ahead of our own.
    clock: input.clock instanceof StoreClock ? input.clock : new StoreClock(input.clock, input.config.leaseTtl),
    log: input.log ?? createJsonLogger(),
    signal: input.signal ?? createWorkSignal(),
    newId: input.newId ?? newId,
    secrets: input.secrets ?? EMPTY_KEYRING,
    inFlight: new Set(),
  };
  const timing = createFleetTiming(deps.store, deps.clock, deps.config);
  const evaluator = createEvaluator(deps, timing);

  const app = new OpenAPIHono<AppEnv>({
    // Validation failures become problem+json with field paths, through the one error handler.
    defaultHook: (result, _c) => {
      if (!result.success) throw validationError(result.error, result.target === "json" ? "" : result.target);
    },
  });
  app.onError(createErrorHandler(deps.log));
  app.notFound((c) => {
    throw notFound(`no route for ${c.req.method} ${new URL(c.req.url).pathname}`);
  });

  // First, so it times every answer, refusals and 404s included.
  app.use("*", requestMetrics(metrics));

  // Every answer, errors and 404s included: set on the context before the handler runs, so the answer is
  // built with them (onError's and notFound's too). Setting them on the finished response instead would make
  // the Node adapter rebuild it, which cost a heartbeat about a fifth more CPU. API answers are data, so
  // their policy allows loading nothing; a page that needs more (the docs) sets its own policy, which
  // replaces this one. HSTS is left to whoever terminates TLS for the domain.
  app.use("*", async (c, next) => {
    for (const [name, value] of SECURITY_HEADERS) c.header(name, value);
    await next();
  });

  app.use(
    "*",
    bodyLimit({
      maxSize: deps.config.bodyLimitBytes,
      onError: () => {
        throw new ProblemError(413, "too-large", "Request body too large", `request body exceeds ${deps.config.bodyLimitBytes} bytes`);
      },
    }),
  );

  app.get("/healthz", async (c) => {
    await deps.store.client.execute("SELECT 1");
    return c.json({ status: "ok", version: API_VERSION });
  });
  app.get("/.well-known/jwks.json", (c) => c.json(jwks(deps.keys)));
  app.get("/v1/schema/job.json", (c) => c.json(jobSpecJsonSchema()));

  // Agent routes authenticate with node credentials (enroll with a join token); everything else under /v1 is operators'.
  const authenticateNode = nodeAuth(deps);
  const authenticateOperator = operatorAuth(deps);
  app.use("/v1/agent/*", async (c, next) => (c.req.path === "/v1/agent/enroll" ? next() : authenticateNode(c, next)));
  app.use("/v1/*", async (c, next) =>
    c.req.path.startsWith("/v1/agent/") || c.req.path === "/v1/schema/job.json" || c.req.path === BOOTSTRAP_PATH ? next() : authenticateOperator(c, next),
  );
  // After authentication, so a refused token costs no body read (bodyLimit reads one only when it is chunked).
  app.use("*", boundedBody({ maxBytes: deps.config.bodyLimitBytes }));

  registerNamespaceRoutes(app, deps);
  registerJobRoutes(app, deps, evaluator);
  registerDeploymentRoutes(app, deps, timing, evaluator);
  registerPlanRoutes(app, deps, timing);
  registerNodeRoutes(app, deps, timing, evaluator);
  registerTokenRoutes(app, deps);
  registerSecretRoutes(app, deps, evaluator);
  registerServiceRoutes(app, deps);
  registerAgentRoutes(app, deps, timing, evaluator);
  registerLogRoutes(app, deps);
  registerFollowRoutes(app, deps, timing);
  registerExecRoutes(app, deps, timing);
  registerAgentRequestRoutes(app, deps);
  registerAuditRoutes(app, deps);
  registerEventRoutes(app, deps);
  registerStatsRoutes(app, deps);
  registerBootstrapRoute(app, deps, input.bootstrapSecret);
  registerMetricsRoute(app, deps);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: { title: "leasehold control plane", version: API_VERSION, description: "Jobs, nodes, leases and tokens. Errors are application/problem+json." },
  });
  registerDocsRoutes(app, { openApiUrl: "/openapi.json", title: "leasehold control plane API" });

  async function settled(): Promise<void> {
    while (deps.inFlight.size > 0) await Promise.allSettled([...deps.inFlight]);
  }
  async function tick(): Promise<void> {
    try {
      await evaluator.sweep();
    } finally {
      // Rotations a put left owed (it stopped half way), after the sweep, so a failure here never costs the
      // fleet its sweep; the evaluations they request run at once.
      const rolled = await rollSecretRotations(deps, "secret rotation", null).catch((err: unknown) => {
        deps.log("secret rotation backstop failed", { error: err instanceof Error ? err.message : String(err) }, "warn");
        return [];
      });
      if (rolled.some((r) => r.version !== null)) await evaluator.kick();
    }
  }
  return { app, evaluator, timing, deps, settled, tick };
}

/** The Hono app alone, for callers that need nothing else. */
export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  return createControlPlane(deps).app;
}
