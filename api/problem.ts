// RFC 9457 problem details: the one error shape of the API.
import { z } from "zod";

export const problemSchema = z.object({
  type: z.string().describe("A stable URI naming the kind of problem"),
  title: z.string(),
  status: z.number(),
  detail: z.string(),
  instance: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type Problem = z.infer<typeof problemSchema>;

export const PROBLEM_CONTENT_TYPE = "application/problem+json";
