// The dashboard shell: sign-in until a token is accepted, then the navigation, who is signed in, and the
// view the hash route names. A token the control plane refuses later (expired, revoked) ends the session.
import { useEffect, useMemo, useState } from "preact/hooks";
import { createApiClient, type ApiError } from "./api/client";
import type { Namespace } from "./api/types";
import { decodeClaims, forgetToken, storedToken, storeToken } from "./session";
import { SessionContext, type Session } from "./session-context";
import { href, useRoute, type Route } from "./router";
import { SignIn } from "./views/sign-in";
import { JobsView } from "./views/jobs";
import { JobView } from "./views/job/job";
import { NodesView } from "./views/nodes";
import { EventsView } from "./views/events";
import { SecretsView } from "./views/secrets";
import { AuditView } from "./views/audit";

type Auth = { state: "checking"; token: string } | { state: "signed-out"; notice?: string } | { state: "signed-in"; token: string; namespaces: string[] };

export function App() {
  const [auth, setAuth] = useState<Auth>(() => {
    const token = storedToken();
    return token ? { state: "checking", token } : { state: "signed-out" };
  });

  const signOut = (notice?: string) => {
    forgetToken();
    setAuth(notice ? { state: "signed-out", notice } : { state: "signed-out" });
  };

  // A token kept from earlier in this tab is checked again before anything is shown with it.
  useEffect(() => {
    if (auth.state !== "checking") return;
    createApiClient(auth.token, () => undefined)
      .get<{ namespaces: Namespace[] }>("/v1/namespaces")
      .then(({ namespaces }) => setAuth({ state: "signed-in", token: auth.token, namespaces: namespaces.map((n) => n.name) }))
      .catch((err: ApiError) => signOut(err.status === 401 ? `Your token was refused (${err.message}); sign in again.` : `Could not reach the control plane: ${err.message}`));
  }, [auth]);

  if (auth.state === "checking") return <p class="loading">Checking your token…</p>;
  if (auth.state === "signed-out")
    return (
      <SignIn
        notice={auth.notice}
        onSignedIn={(token, namespaces) => {
          storeToken(token);
          setAuth({ state: "signed-in", token, namespaces });
          if (!location.hash || location.hash === "#/") location.hash = href.jobs();
        }}
      />
    );
  return <SignedIn token={auth.token} namespaces={auth.namespaces} signOut={signOut} />;
}

function SignedIn({ token, namespaces, signOut }: { token: string; namespaces: string[]; signOut: (notice?: string) => void }) {
  const route = useRoute();
  const session = useMemo<Session>(
    () => ({
      client: createApiClient(token, (err) => signOut(`The control plane refused your token (${err.message}); sign in again.`)),
      claims: decodeClaims(token),
      namespaces,
      signOut,
    }),
    [token, namespaces],
  );

  // Each view's heading takes focus when the view changes, so keyboard and screen-reader users land on it.
  const routeKey = route.view === "job" ? `job/${route.namespace}/${route.name}` : route.view;
  useEffect(() => {
    document.querySelector<HTMLElement>("main h1")?.focus({ preventScroll: true });
  }, [routeKey]);

  const claims = session.claims;
  const roles = claims ? Object.entries(claims.roles).map(([ns, role]) => `${role} on ${ns === "*" ? "every namespace" : ns}`).join(", ") : "";
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.querySelector<HTMLElement>("main h1")?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href.jobs()}>
          leasehold
        </a>
        <nav aria-label="Views">
          <ul>
            {NAV.map(([view, label, link]) => (
              <li key={view}>
                <a href={link} aria-current={currentView(route) === view ? "page" : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span>
            Signed in as <strong>{claims?.subject ?? "an operator"}</strong>
            {roles ? <span class="muted"> ({roles})</span> : null}
          </span>
          <button type="button" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">{view(route)}</main>
    </SessionContext.Provider>
  );
}

const NAV: [Route["view"], string, string][] = [
  ["jobs", "Jobs", href.jobs()],
  ["nodes", "Nodes", href.nodes()],
  ["events", "Events", href.events()],
  ["secrets", "Secrets", href.secrets()],
  ["audit", "Audit", href.audit()],
];

function currentView(route: Route): Route["view"] {
  return route.view === "job" ? "jobs" : route.view;
}

function view(route: Route) {
  switch (route.view) {
    case "jobs":
      return <JobsView />;
    case "job":
      return <JobView key={`${route.namespace}/${route.name}`} namespace={route.namespace} name={route.name} tab={route.tab} />;
    case "nodes":
      return <NodesView />;
    case "events":
      return <EventsView />;
    case "secrets":
      return <SecretsView namespace={route.namespace} />;
    case "audit":
      return <AuditView />;
    case "not-found":
      return (
        <>
          <h1 tabIndex={-1}>Nothing at #{route.path}</h1>
          <p>
            <a href={href.jobs()}>Go to the jobs</a>
          </p>
        </>
      );
  }
}
