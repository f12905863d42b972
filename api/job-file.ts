// Reads a job file (YAML or JSON) into a validated job spec.
import { parse as parseYaml } from "yaml";
import { jobSpecSchema, type JobSpec } from "./job-spec";

export class JobFileError extends Error {
  override name = "JobFileError";
  constructor(
    message: string,
    readonly issues: { path: string; message: string }[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Parses YAML (a superset of JSON) without validating it. */
export function parseJobDocument(text: string): unknown {
  try {
    return parseYaml(text, { maxAliasCount: 100, uniqueKeys: true });
  } catch (cause) {
    throw new JobFileError(`job file is not valid YAML or JSON: ${(cause as Error).message}`, [], { cause });
  }
}

/** Parses and validates a job file's text. */
export function readJobFile(text: string): JobSpec {
  const result = jobSpecSchema.safeParse(parseJobDocument(text));
  if (!result.success) {
    const issues = result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
    throw new JobFileError(`job file is invalid: ${issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ")}`, issues);
  }
  return result.data;
}
