// Hash routes (/ui/#/jobs/default/web): the server serves one page for all of them, and a reload or a
// shared link lands on the same view.
import { useEffect, useState } from "preact/hooks";

export type JobTab = "tasks" | "versions" | "deployments" | "events" | "logs";
export const JOB_TABS: readonly JobTab[] = ["tasks", "versions", "deployments", "events", "logs"];

export type Route =
  | { view: "jobs" }
  | { view: "job"; namespace: string; name: string; tab: JobTab }
  | { view: "nodes" }
  | { view: "events" }
  | { view: "secrets"; namespace: string | null }
  | { view: "audit" }
  | { view: "not-found"; path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, "");
  const parts = path.split("/").filter((p) => p !== "").map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  const [head, a, b, c] = parts;
  switch (head) {
    case undefined:
    case "jobs":
      if (a !== undefined && b !== undefined) {
        const tab = (JOB_TABS as readonly string[]).includes(c ?? "") ? (c as JobTab) : "tasks";
        return { view: "job", namespace: a, name: b, tab };
      }
      return { view: "jobs" };
    case "nodes":
      return { view: "nodes" };
    case "events":
      return { view: "events" };
    case "secrets":
      return { view: "secrets", namespace: a ?? null };
    case "audit":
      return { view: "audit" };
    default:
      return { view: "not-found", path };
  }
}

const enc = encodeURIComponent;

export const href = {
  jobs: () => "#/jobs",
  job: (namespace: string, name: string, tab: JobTab = "tasks") => `#/jobs/${enc(namespace)}/${enc(name)}${tab === "tasks" ? "" : `/${tab}`}`,
  nodes: () => "#/nodes",
  events: () => "#/events",
  secrets: (namespace?: string) => (namespace ? `#/secrets/${enc(namespace)}` : "#/secrets"),
  audit: () => "#/audit",
};

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", update);
    return () => removeEventListener("hashchange", update);
  }, []);
  return route;
}
