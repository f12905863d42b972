// Shared OpenAPI pieces: problem responses, security, path parameters.
import { z } from "@hono/zod-openapi";
import { problemSchema } from "../../api/problem";
import { nameSchema } from "../../api/job-spec";

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

export const namespaceParam = z.object({ namespace: nameSchema.openapi({ param: { name: "namespace", in: "path" } }) });
export const jobParams = namespaceParam.extend({ name: nameSchema.openapi({ param: { name: "name", in: "path" } }) });
export const idParam = z.object({ id: z.string().min(1).max(128).openapi({ param: { name: "id", in: "path" } }) });

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});
