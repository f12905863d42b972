// Shared OpenAPI pieces: problem responses, security, path parameters.
import { z } from "@hono/zod-openapi";
import { problemSchema } from "../../api/problem";
import { jobSpecSchema, NAME_PATTERN, NAME_RULE } from "../../api/job-spec";

// Path parameters are built from this module's z so .openapi() is present wherever the api/ schemas'
// zod instance differs (bundlers may load two copies); validation still uses the contract's rule.
const name = () => z.string().regex(NAME_PATTERN, NAME_RULE);

export const problemContent = { "application/problem+json": { schema: problemSchema } };

export const errorResponses = {
  400: { description: "Invalid request", content: problemContent },
  401: { description: "Not authenticated", content: problemContent },
  403: { description: "Not allowed", content: problemContent },
  404: { description: "Not found", content: problemContent },
  409: { description: "Conflict", content: problemContent },
  413: { description: "Body too large", content: problemContent },
} as const;

export const bearer = [{ bearerAuth: [] }];

export const namespaceParam = z.object({ namespace: name().openapi({ param: { name: "namespace", in: "path" } }) });
export const jobParams = namespaceParam.extend({ name: name().openapi({ param: { name: "name", in: "path" } }) });
export const idParam = z.object({ id: z.string().min(1).max(128).openapi({ param: { name: "id", in: "path" } }) });

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

/** A job file as a request body: JSON, or YAML parsed by hand (readJobSpec), one validation path for both. */
export const jobFileBody = {
  required: true,
  content: {
    "application/json": { schema: jobSpecSchema },
    "application/yaml": { schema: z.string() },
  },
} as const;
