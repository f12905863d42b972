// Reading dockerode's loosely typed values and errors: fields by type, the engine's status and its own words.
import { ContainerRuntimeError } from "./container-runtime";

export function objectField(value: unknown, key: string): Record<string, unknown> | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const field: unknown = (value as Record<string, unknown>)[key];
  return typeof field === "object" && field !== null ? (field as Record<string, unknown>) : undefined;
}

export function stringField(value: unknown, key: string): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const field: unknown = (value as Record<string, unknown>)[key];
  return typeof field === "string" ? field : undefined;
}

export function numberField(value: unknown, key: string): number | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const field: unknown = (value as Record<string, unknown>)[key];
  return typeof field === "number" ? field : undefined;
}

export function statusCode(error: unknown): number | undefined {
  return numberField(error, "statusCode");
}

/** The engine's own words when it gave any, else the error message. */
export function reason(error: unknown): string {
  const fromEngine = stringField(objectField(error, "json"), "message");
  if (fromEngine) return fromEngine.trim();
  return toError(error).message;
}

export function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

export function wrap(error: unknown, action: string): ContainerRuntimeError {
  if (error instanceof ContainerRuntimeError) return error;
  const code = statusCode(error) === 404 ? "not_found" : statusCode(error) === 409 ? "conflict" : "engine";
  return new ContainerRuntimeError(code, `${action}: ${reason(error)}`, { cause: error });
}
