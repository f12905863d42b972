// What an operator does to a job from its page: scale, roll back, promote or fail its rollout, stop it.
// The destructive ones ask first. Each outcome is said in a status line; a refusal in an alert.
import { useEffect, useId, useState } from "preact/hooks";
import { jobPath, seg } from "../../api/client";
import type { DeploymentDetail, Job } from "../../api/types";
import { useConfirm } from "../../components/confirm";
import { errorText } from "../../components/problem";
import { useSession } from "../../session-context";

interface Outcome {
  ok: boolean;
  text: string;
}

export function JobActions({ job, deployment, onChanged }: { job: Job; deployment: DeploymentDetail | null; onChanged: () => void }) {
  const { client } = useSession();
  const [dialog, ask] = useConfirm();
  const [replicas, setReplicas] = useState(String(job.replicas));
  const [busy, setBusy] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const replicasId = useId();
  const path = jobPath(job.namespace, job.name);

  // The field follows the job's count until the operator types another.
  const [edited, setEdited] = useState(false);
  useEffect(() => {
    if (!edited) setReplicas(String(job.replicas));
  }, [job.replicas, edited]);

  async function act(what: string, run: () => Promise<string>) {
    setBusy(what);
    setOutcome(null);
    try {
      setOutcome({ ok: true, text: await run() });
      onChanged();
    } catch (err) {
      setOutcome({ ok: false, text: `${what} failed: ${errorText(err)}` });
    } finally {
      setBusy(null);
    }
  }

  async function scale(e: Event) {
    e.preventDefault();
    const count = Number(replicas);
    if (!Number.isInteger(count) || count < 0) return setOutcome({ ok: false, text: "Replicas must be a whole number, 0 or more." });
    if (count < job.replicas && !(await ask(`Scale ${job.name} down?`, `${job.replicas - count} of its ${job.replicas} replicas will be stopped.`, `Scale to ${count}`))) return;
    await act("Scale", async () => {
      const r = await client.post<{ changed: boolean; scaled?: { from: number; to: number } }>(`${path}/scale`, { replicas: count });
      setEdited(false);
      return r.scaled ? `Scaled from ${r.scaled.from} to ${r.scaled.to} replicas.` : `Already at ${count} replicas.`;
    });
  }

  async function rollback() {
    const to = job.version - 1;
    if (!(await ask(`Roll ${job.name} back?`, `A new version equal to version ${to} will be rolled out under the job's update strategy.`, `Roll back to version ${to}`))) return;
    await act("Rollback", async () => {
      const r = await client.post<{ job: Job; changed: boolean; rolledBackTo: number }>(`${path}/rollback`, {});
      return r.changed ? `Rolling back: version ${r.job.version} has version ${r.rolledBackTo}'s spec.` : `Already runs version ${r.rolledBackTo}'s spec.`;
    });
  }

  async function stop() {
    if (!(await ask(`Stop ${job.name}?`, "Every task of the job is stopped. Its versions are kept; apply it again to run it.", "Stop job"))) return;
    await act("Stop", async () => {
      await client.post(`${path}/stop`);
      return `Job ${job.name} is stopping.`;
    });
  }

  async function deploymentAction(action: "promote" | "fail") {
    if (!deployment) return;
    if (action === "fail" && !(await ask("Fail this deployment?", `The rollout of version ${deployment.version} stops now; with update.autoRevert the last good version is rolled out again.`, "Fail deployment"))) return;
    await act(action === "promote" ? "Promote" : "Fail", async () => {
      await client.post(`/v1/namespaces/${seg(job.namespace)}/deployments/${seg(deployment.id)}/${action}`, {});
      return action === "promote" ? "Canaries promoted: the rollout goes on." : "Deployment failed.";
    });
  }

  const running = job.status === "running";
  const active = deployment !== null && (deployment.status === "running" || deployment.status === "paused");
  return (
    <div class="job-actions">
      {dialog}
      <form class="inline" onSubmit={scale}>
        <label for={replicasId}>Replicas</label>
        <input
          id={replicasId}
          type="number"
          min={0}
          max={10000}
          step={1}
          inputMode="numeric"
          value={replicas}
          onInput={(e) => {
            setEdited(true);
            setReplicas(e.currentTarget.value);
          }}
          disabled={!running}
        />
        <button type="submit" disabled={!running || busy !== null}>
          {busy === "Scale" ? "Scaling…" : "Scale"}
        </button>
      </form>
      {active && !deployment.promoted ? (
        <button type="button" onClick={() => void deploymentAction("promote")} disabled={busy !== null}>
          Promote canaries
        </button>
      ) : null}
      {active ? (
        <button type="button" class="danger" onClick={() => void deploymentAction("fail")} disabled={busy !== null}>
          Fail deployment
        </button>
      ) : null}
      <button type="button" onClick={() => void rollback()} disabled={!running || job.version < 2 || busy !== null}>
        Roll back{job.version >= 2 ? ` to v${job.version - 1}` : ""}
      </button>
      <button type="button" class="danger" onClick={() => void stop()} disabled={!running || busy !== null}>
        Stop job
      </button>
      <p class="outcome" role="status">
        {outcome?.ok ? outcome.text : ""}
      </p>
      {outcome && !outcome.ok ? (
        <p class="problem" role="alert">
          {outcome.text}
        </p>
      ) : null}
    </div>
  );
}
