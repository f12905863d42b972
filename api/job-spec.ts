// The job spec: what an operator applies (YAML or JSON), validated once here for every consumer.
import { z } from "zod";
import { parseTemplate, TemplateError, templateSecrets, templateUpstreams, type TemplatePart } from "./config-template";
import { duration } from "./duration";

export const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const NAME_RULE = "must be lowercase letters, digits and '-', 1-63 characters, starting and ending with a letter or digit";
export const nameSchema = z.string().regex(NAME_PATTERN, NAME_RULE);

const labelKey = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/, "not a valid label key");

export const resourcesSchema = z.strictObject({
  cpu: z.int().min(1, "cpu must be at least 1 millicore").max(1_024_000).describe("CPU in millicores (1000 = one core)"),
  memory: z.int().min(4, "memory must be at least 4 MiB").max(4_194_304).describe("Memory in MiB"),
});

export const portSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,14}$/, "port names are lowercase, up to 15 characters"),
  container: z.int().min(1).max(65535),
  host: z.int().min(1).max(65535).optional().describe("Static host port; omit for a dynamic one"),
  protocol: z.enum(["tcp", "udp"]).default("tcp"),
  service: z
    .strictObject({
      name: nameSchema.describe("The service this port serves, in the job's namespace"),
      tags: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "not a valid tag")).max(16).default([]),
    })
    .optional()
    .describe("Register the port's tasks as endpoints of this service in the catalog"),
});

export const upstreamSchema = z.strictObject({
  service: nameSchema.describe("The service to reach"),
  namespace: nameSchema.optional().describe("Its namespace; default the job's"),
  port: z.int().min(1).max(65535).describe("The port the agent serves it on, at the job network's gateway (LEASEHOLD_UPSTREAM_<NAME>_ADDR)"),
  policy: z.enum(["round-robin", "least-connections"]).default("round-robin"),
});


export const constraintSchema = z
  .strictObject({
    attribute: z
      .string()
      .regex(/^(region|name|label\.[A-Za-z0-9._/-]+)$/, 'attribute is "region", "name" or "label.<key>"'),
    operator: z.enum(["=", "!=", "in", "not_in", "exists", "not_exists"]).default("="),
    value: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
  })
  .superRefine((c, ctx) => {
    const needsList = c.operator === "in" || c.operator === "not_in";
    const needsNone = c.operator === "exists" || c.operator === "not_exists";
    if (needsNone && c.value !== undefined) ctx.addIssue({ code: "custom", path: ["value"], message: `operator ${c.operator} takes no value` });
    if (!needsNone && c.value === undefined) ctx.addIssue({ code: "custom", path: ["value"], message: `operator ${c.operator} needs a value` });
    if (needsList && typeof c.value === "string") ctx.addIssue({ code: "custom", path: ["value"], message: `operator ${c.operator} needs a list` });
    if (!needsList && Array.isArray(c.value)) ctx.addIssue({ code: "custom", path: ["value"], message: `operator ${c.operator} needs a single value` });
  });

export const ingressSchema = z.strictObject({
  port: z.int().min(1).max(65535).describe("The host port matching agents listen on"),
  service: nameSchema.describe("The service it balances to, in the job's namespace"),
  nodes: z.array(constraintSchema).max(32).default([]).describe("Which nodes listen (all when empty): ingress is opt-in per node"),
});

// onFailure is optional, its default applied where it is read (healthOnFailure), like restart.mode: a
// materialised default would change the stored spec, and so the version, of every job already applied.
const checkFields = {
  interval: duration({ min: 100, max: 3_600_000 }).prefault("10s").describe("Time between probes, from the start of one to the start of the next"),
  timeout: duration({ min: 50, max: 600_000 }).prefault("2s").describe("How long one probe may take before it counts as failed"),
  failures: z.int().min(1).max(100).default(3).describe("Failures in a row that make the task unhealthy"),
  grace: duration({ max: 3_600_000 })
    .prefault("0s")
    .describe("How long after each start (the first and every restart) failures are not counted. The first probe runs as the container starts: give a slow starter a grace"),
  onFailure: z
    .enum(["restart", "ignore"])
    .optional()
    .describe("Default restart: once unhealthy, the agent stops the task and restarts it under the restart policy (failed once its attempts are used up). ignore: it keeps running, reported unhealthy"),
};

export const healthCheckSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("http"), port: z.string().describe("Name of one of the job's ports"), path: z.string().startsWith("/").default("/"), ...checkFields }),
  z.strictObject({ type: z.literal("tcp"), port: z.string().describe("Name of one of the job's ports"), ...checkFields }),
  z.strictObject({ type: z.literal("exec"), command: z.array(z.string()).min(1).describe("Run in the container; exit 0 is healthy"), ...checkFields }),
]);

export const restartPolicySchema = z.strictObject({
  mode: z.enum(["always", "on-failure", "never"]).optional().describe("Default: always for services, on-failure for batch"),
  attempts: z.int().min(0).max(1000).default(3).describe("Restarts allowed within interval; 0 = none"),
  interval: duration({ min: 1000 }).prefault("5m"),
  delay: duration({ max: 3_600_000 }).prefault("1s"),
});

export const reschedulePolicySchema = z.strictObject({
  attempts: z
    .int()
    .min(0)
    .max(1000)
    .default(3)
    .describe("Replacements of a failed copy allowed per slot within interval; 0 = unlimited. Once spent, the slot stays failed"),
  interval: duration({ min: 1000, max: 7 * 24 * 3_600_000 }).prefault("1h").describe("Window in which attempts count"),
  delay: duration({ max: 3_600_000 }).prefault("5s").describe("Wait before the first replacement of a failed copy (at least 1s); doubles each time"),
  maxDelay: duration({ max: 24 * 3_600_000 }).prefault("5m"),
});

export const updateStrategySchema = z.strictObject({
  parallelism: z.int().min(1).max(1000).default(1).describe("At most this many slots are updated at once (in flight: placed, not yet healthy for minHealthy)"),
  order: z
    .enum(["stop-first", "start-first"])
    .default("stop-first")
    .describe("stop-first: a slot's new copy starts only once its old copy has stopped (updates and drains); start-first lets them overlap for a moment"),
  minHealthy: duration({ max: 3_600_000 }).prefault("5s").describe("A new task counts once it has been healthy this long (by its health check), or running this long without one"),
  healthyDeadline: duration({ min: 1000 }).prefault("5m").describe("A new task that has not counted as healthy this long after it was placed fails the deployment"),
  progressDeadline: duration({ max: 24 * 3_600_000 })
    .prefault("10m")
    .describe("The deployment fails when no new task becomes healthy for this long (0: never). Waiting for a promote or for offline hosts does not count"),
  autoRevert: z.boolean().default(false).describe("When the deployment fails, roll back to the last version whose deployment succeeded, under these same rules"),
  canary: z.int().min(0).max(100).default(0).describe("Start this many new-version tasks beside the old version and wait for a promote before updating the rest"),
  autoPromote: z.boolean().default(false).describe("Promote once every canary is healthy, instead of waiting for leasehold deployment promote"),
  offlineDeadline: duration({ max: 7 * 24 * 3_600_000 })
    .prefault("15m")
    .describe("How long the rollout waits for slots whose hosts are offline (they keep their old version meanwhile) before it ends and reports them"),
  waves: z.enum(["none", "region"]).default("none").describe("region: roll one region at a time, in waveOrder, with the canaries (if any) per wave"),
  waveOrder: z.array(z.string().regex(/^[a-z0-9-]{1,32}$/)).max(64).default([]).describe("Regions in the order their waves roll; regions not named follow in name order"),
});

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Where a file goes in the container: absolute, normalised, and not under the kernel's own file systems. */
const containerPath = z
  .string()
  .max(1024)
  .regex(/^\/[^\0]*$/, "must be an absolute path")
  .refine((p) => !p.split("/").some((seg, i) => (i > 0 && seg === "") || seg === "." || seg === ".."), "must be a normalised path (no '.', '..', '//' or trailing '/')")
  .refine((p) => !/^\/(proc|sys|dev)(\/|$)/.test(p), "must not be under /proc, /sys or /dev");
const fileMode = z.string().regex(/^0?[0-7]{3}$/, 'must be an octal file mode, such as "0400"');

/** The mode of a secret or config file as a number (0400 → 256). */
export const modeBits = (mode: string): number => parseInt(mode, 8);

export const secretRefSchema = z
  .strictObject({
    name: nameSchema.describe("The secret, in the job's namespace"),
    version: z.int().min(1).optional().describe("Use this version; omit to follow the latest: each new version rolls the job out under its update strategy"),
    file: containerPath.optional().describe("Put it in a file at this path in the container (on tmpfs, read-only): the recommended way"),
    env: z.string().regex(ENV_NAME, "not a valid variable name").optional().describe("Put it in this environment variable. Env values are visible to anyone who can run docker inspect on the host: prefer file"),
    mode: fileMode.optional().describe('With file: its mode, default "0400"'),
  })
  .superRefine((ref, ctx) => {
    if ((ref.file === undefined) === (ref.env === undefined)) ctx.addIssue({ code: "custom", path: ["file"], message: "give exactly one of file and env" });
    if (ref.env !== undefined && ref.mode !== undefined) ctx.addIssue({ code: "custom", path: ["mode"], message: "mode applies to a file, not to env" });
  });

export const configFileSchema = z
  .strictObject({
    file: containerPath.describe("Path in the container (on tmpfs, read-only)"),
    content: z
      .string()
      .max(65_536)
      .describe('The file\'s text: a template whose holes are {{ job }}, {{ namespace }}, {{ slot }}, {{ version }}, {{ region }}, {{ node }}, {{ secret "name" }}, {{ upstream "service" }} (one of the job\'s upstreams, as gateway:port) and {{ "literal" }}. A file that reads a secret is a secret end to end'),
    mode: fileMode.optional().describe('Default "0444"'),
  })
  .superRefine((file, ctx) => {
    try {
      parseTemplate(file.content);
    } catch (err) {
      if (err instanceof TemplateError) ctx.addIssue({ code: "custom", path: ["content"], message: err.message });
      else throw err;
    }
  });
export type SecretRef = z.output<typeof secretRefSchema>;
export type ConfigFile = z.output<typeof configFileSchema>;

export const disconnectSchema = z.strictObject({
  policy: z.enum(["keep", "stop"]).default("keep"),
  after: duration({ min: 1000, max: 7 * 24 * 3_600_000 }).prefault("1m").describe("With stop: how long an agent cut off from the control plane keeps the task"),
});

export const jobSpecSchema = z
  .strictObject({
    name: nameSchema,
    namespace: nameSchema.default("default"),
    type: z.enum(["service", "batch"]).default("service"),
    replicas: z.int().min(0).max(10_000).default(1),
    image: z.string().min(1).max(512),
    command: z.array(z.string().max(4096)).max(256).optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not a valid variable name"), z.string().max(32_768)).default({}),
    resources: resourcesSchema.prefault({ cpu: 100, memory: 64 }),
    ports: z.array(portSchema).max(32).default([]),
    constraints: z.array(constraintSchema).max(32).default([]),
    spread: z.strictObject({ attribute: z.string().regex(/^(region|label\.[A-Za-z0-9._/-]+)$/) }).optional(),
    health: healthCheckSchema.optional(),
    restart: restartPolicySchema.prefault({}),
    reschedule: reschedulePolicySchema.prefault({}),
    update: updateStrategySchema.prefault({}),
    disconnect: disconnectSchema.prefault({}),
    stopGrace: duration({ max: 600_000 }).prefault("10s"),
    meta: z.record(labelKey, z.string().max(1024)).default({}),
    // Optional rather than defaulted: a job that uses neither stores the spec it stored before they existed.
    secrets: z.array(secretRefSchema).max(32).optional().describe("Secrets the task gets, as files or env variables"),
    config: z.array(configFileSchema).max(32).optional().describe("Config files the task gets, rendered from templates"),
    upstreams: z.array(upstreamSchema).max(32).optional().describe("Services the agent serves to each task of the job, balanced across their healthy endpoints"),
    ingress: z.array(ingressSchema).max(8).optional().describe("Host ports on matching nodes balanced to one of this job's services (TCP)"),
    network: z.enum(["job", "namespace"]).optional().describe("The bridge network tasks join on their host: one per job (default) or one per namespace"),
  })
  .superRefine((spec, ctx) => {
    const names = new Set<string>();
    spec.ports.forEach((p, i) => {
      if (names.has(p.name)) ctx.addIssue({ code: "custom", path: ["ports", i, "name"], message: `duplicate port name ${p.name}` });
      names.add(p.name);
    });
    if (spec.health && spec.health.type !== "exec" && !names.has(spec.health.port)) {
      ctx.addIssue({ code: "custom", path: ["health", "port"], message: `health check port "${spec.health.port}" is not one of the job's ports` });
    }
    if (spec.disconnect.policy === "stop" && spec.update.order === "start-first") {
      ctx.addIssue({ code: "custom", path: ["update", "order"], message: "start-first would run two copies of a slot at once, which disconnect policy stop forbids: use stop-first" });
    }
    if (spec.update.healthyDeadline <= spec.update.minHealthy) {
      ctx.addIssue({ code: "custom", path: ["update", "healthyDeadline"], message: "must be longer than update.minHealthy: a task could never count as healthy in time" });
    }
    if (new Set(spec.update.waveOrder).size !== spec.update.waveOrder.length) {
      ctx.addIssue({ code: "custom", path: ["update", "waveOrder"], message: "names a region twice" });
    }
    const files = new Map<string, string>();
    const claimFile = (path: string, at: (string | number)[]) => {
      const other = files.get(path);
      if (other !== undefined) ctx.addIssue({ code: "custom", path: at, message: `${path} is also the path of ${other}` });
      else files.set(path, at.join("."));
    };
    const pinned = new Map<string, number | undefined>();
    const secrets = spec.secrets ?? [];
    secrets.forEach((ref, i) => {
      if (ref.file !== undefined) claimFile(ref.file, ["secrets", i, "file"]);
      if (ref.env !== undefined && (ref.env in spec.env || secrets.some((o, j) => j < i && o.env === ref.env))) {
        ctx.addIssue({ code: "custom", path: ["secrets", i, "env"], message: `${ref.env} is set twice` });
      }
      if (pinned.has(ref.name) && pinned.get(ref.name) !== ref.version) {
        ctx.addIssue({ code: "custom", path: ["secrets", i, "version"], message: `secret ${ref.name} is used at two versions: use one` });
      }
      pinned.set(ref.name, ref.version);
    });
    (spec.config ?? []).forEach((file, i) => claimFile(file.file, ["config", i, "file"]));
    const upstreamServices = [...new Set((spec.upstreams ?? []).map((u) => u.service))];
    (spec.config ?? []).forEach((file, i) => {
      let parts: TemplatePart[];
      try {
        parts = parseTemplate(file.content);
      } catch {
        return; // configFileSchema has said what is wrong with it.
      }
      for (const name of templateUpstreams(parts)) {
        if (upstreamServices.includes(name)) continue;
        const declared = upstreamServices.length > 0 ? `its upstreams are ${upstreamServices.join(", ")}` : "it declares none";
        ctx.addIssue({ code: "custom", path: ["config", i, "content"], message: `{{ upstream "${name}" }} is not an upstream of this job: ${declared}` });
      }
    });
    const upstreamPorts = new Map<number, number>();
    (spec.upstreams ?? []).forEach((u, i) => {
      const other = upstreamPorts.get(u.port);
      if (other !== undefined) ctx.addIssue({ code: "custom", path: ["upstreams", i, "port"], message: `port ${u.port} is also upstreams.${other}'s` });
      upstreamPorts.set(u.port, i);
    });
    const services = new Set<string>();
    spec.ports.forEach((p, i) => {
      if (!p.service) return;
      if (services.has(p.service.name)) ctx.addIssue({ code: "custom", path: ["ports", i, "service", "name"], message: `service ${p.service.name} is served by another port of this job` });
      services.add(p.service.name);
    });
    (spec.ingress ?? []).forEach((g, i) => {
      if (!services.has(g.service)) ctx.addIssue({ code: "custom", path: ["ingress", i, "service"], message: `"${g.service}" is not a service of this job's ports` });
    });
    if (spec.type === "batch" && spec.update.parallelism < 1) {
      ctx.addIssue({ code: "custom", path: ["update", "parallelism"], message: "must be at least 1" });
    }
  });

/** A job spec after validation and defaults: durations are milliseconds. */
export type JobSpec = z.output<typeof jobSpecSchema>;
/** A job spec as written in a job file. */
export type JobSpecInput = z.input<typeof jobSpecSchema>;
export type HealthCheck = NonNullable<JobSpec["health"]>;
export type Constraint = JobSpec["constraints"][number];

/** What an unhealthy task's agent does when its health check names nothing. */
export function healthOnFailure(check: Pick<HealthCheck, "onFailure">): "restart" | "ignore" {
  return check.onFailure ?? "restart";
}

/** The restart mode a job gets when its spec names none. */
export function restartMode(spec: Pick<JobSpec, "type" | "restart">): "always" | "on-failure" | "never" {
  return spec.restart.mode ?? (spec.type === "batch" ? "on-failure" : "always");
}

/** Every secret a spec reads (its secrets and its config templates), with the version it pins, if any. */
export function secretsUsed(spec: Partial<Pick<JobSpec, "secrets" | "config">>): Map<string, number | undefined> {
  const used = new Map<string, number | undefined>();
  // Versions stored before secrets existed have neither field.
  for (const ref of spec.secrets ?? []) used.set(ref.name, ref.version ?? used.get(ref.name));
  for (const file of spec.config ?? []) for (const name of templateSecrets(parseTemplate(file.content))) if (!used.has(name)) used.set(name, undefined);
  return used;
}

/** JSON Schema of the job file, for editors (yaml-language-server, VS Code). */
export function jobSpecJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(jobSpecSchema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
}
