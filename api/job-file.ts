// Reads a job file (YAML or JSON) into a validated job spec, through the bounded parsers.
import { DocumentError, JSON_LIMITS, parseJson, parseYaml, YAML_LIMITS, type DocumentErrorReason } from "./bounded-parse";
import { jobSpecSchema, type JobSpec } from "./job-spec";

export class JobFileError extends Error {
  override name = "JobFileError";
  constructor(
    message: string,
    readonly issues: { path: string; message: string }[] = [],
    options?: { cause?: unknown; reason?: DocumentErrorReason | "invalid" },
  ) {
    super(message, options);
    this.reason = options?.reason ?? "invalid";
  }
  /** Why the file was refused: a document limit, its syntax, a YAML feature not allowed, or the spec itself. */
  readonly reason: DocumentErrorReason | "invalid";
}

/** How a job file is written: known from a request's content type, or told apart by its first character. */
export type JobFileFormat = "json" | "yaml" | "auto";

/**
 * Parses a job file without validating it. JSON goes through JSON.parse, YAML through the yaml library with
 * its limits; "auto" reads a file that opens with "{" as JSON and falls back to YAML (of which JSON is a
 * subset) only when it is not valid JSON.
 */
export function parseJobDocument(text: string, format: JobFileFormat = "auto"): unknown {
  const json = format === "json" || (format === "auto" && /^\s*\{/.test(text.slice(0, 256)));
  try {
    if (!json) return parseYaml(text, YAML_LIMITS);
    try {
      return parseJson(text, JSON_LIMITS);
    } catch (err) {
      if (format === "auto" && err instanceof DocumentError && err.reason === "syntax") return parseYaml(text, YAML_LIMITS);
      throw err;
    }
  } catch (cause) {
    if (!(cause instanceof DocumentError)) throw cause;
    // A file of unknown format that is valid in neither says so for both.
    const detail = format === "json" ? cause.detail : cause.detail.replace(/^is not valid YAML/, "is not valid YAML or JSON");
    throw new JobFileError(`job file ${detail}`, cause.issues, { cause, reason: cause.reason });
  }
}

/** Parses and validates a job file's text. */
export function readJobFile(text: string, format: JobFileFormat = "auto"): JobSpec {
  const result = jobSpecSchema.safeParse(parseJobDocument(text, format));
  if (!result.success) {
    const issues = result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
    throw new JobFileError(`job file is invalid: ${issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ")}`, issues);
  }
  return result.data;
}
