// What a task's container gets beyond its spec when the spec says `sealed`: the payload beside its lease,
// opened with the node's private key, its files on tmpfs (see secret-files.ts) and its secret env values.
//
// Invariants: the opened content lives only in memory, for as long as one start takes, and in the
// container; what is kept (leases.json) is the sealed JWE, never what it opens to. A sealed payload is used
// only for the task and payload hash it was sealed for (openSealed checks both). A sealed task whose payload
// is missing or does not open is never started. Error messages name paths and env names, never values.
import type { JWK } from "jose";
import type { TaskSpec } from "../api/agent-protocol";
import { openSealed, SealError, type SealedContent } from "../api/sealed";
import { noSecretFiles, SecretFilesError, type ContainerKey, type SecretFiles } from "./secret-files";
import type { FileMount } from "./runtime";

/** A sealed task that cannot run as sealed: the task fails (retrying would not change the payload). */
export class TaskSecretsError extends Error {
  override name = "TaskSecretsError";
}

/** A held task as far as its secrets go: the lease's task id, epoch and payload hash, the spec, the sealed JWE. */
export interface SealedTask {
  taskId: string;
  epoch: number;
  ph: string;
  spec: TaskSpec;
  sealed: string | undefined;
}

/** The opened payload of one start. Hold it no longer than that start. */
export interface OpenedSecrets {
  readonly files: SealedContent["files"];
  readonly env: Record<string, string>;
}

export interface TaskSecrets {
  /** Opens the task's sealed payload (nothing for a task that is not sealed). Throws TaskSecretsError. */
  open(task: SealedTask): Promise<OpenedSecrets>;
  /** Puts the opened files in place for the task's next container; returns their mounts. Throws TaskSecretsError. */
  place(task: ContainerKey, opened: OpenedSecrets): FileMount[];
  /** For a container that already runs (an agent restart): writes back any of its files that are gone. */
  restore(task: SealedTask): Promise<number>;
  /** Removes the files of every container not in `live`. */
  sweep(live: Iterable<ContainerKey>): number;
}

const NOTHING: OpenedSecrets = { files: [], env: {} };
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/**
 * `privateJwk` undefined: this agent has no node key, and every sealed task fails. `trusted`: the control
 * plane's keys pinned at enrollment (the lease checker's): a sealed payload must be signed by one of them.
 */
export function createTaskSecrets(deps: { privateJwk: JWK | undefined; trusted: { keys: JWK[] }; files: SecretFiles }): TaskSecrets {
  async function open(task: SealedTask): Promise<OpenedSecrets> {
    if (!task.spec.sealed) {
      // The control plane seals whatever a task uses: one that names secrets or config files and came
      // unsealed would run without them.
      if ((task.spec.secrets?.length ?? 0) > 0 || (task.spec.config?.length ?? 0) > 0) {
        throw new TaskSecretsError("the task uses secrets or config files but its payload came unsealed");
      }
      return NOTHING;
    }
    if (task.sealed === undefined) throw new TaskSecretsError("the task's sealed secrets did not come with its lease");
    if (deps.privateJwk === undefined) throw new TaskSecretsError("this agent has no node key to open the task's sealed secrets with");
    let content: SealedContent;
    try {
      content = await openSealed(deps.privateJwk, task.sealed, { taskId: task.taskId, ph: task.ph }, deps.trusted);
    } catch (err) {
      // SealError's messages hold no plaintext.
      if (err instanceof SealError) throw new TaskSecretsError(err.message, { cause: err });
      throw err;
    }
    for (const name of Object.keys(content.env)) {
      if (!ENV_NAME.test(name)) throw new TaskSecretsError(`the task's sealed env name ${JSON.stringify(name)} is not a valid variable name`);
    }
    return { files: content.files, env: content.env };
  }

  function place(task: ContainerKey, opened: OpenedSecrets): FileMount[] {
    if (opened.files.length === 0) return [];
    try {
      return deps.files.write(task, opened.files);
    } catch (err) {
      if (err instanceof SecretFilesError) throw new TaskSecretsError(err.message, { cause: err });
      throw err;
    }
  }

  return {
    open,
    place,
    async restore(task) {
      const opened = await open(task);
      if (opened.files.length === 0) return 0;
      try {
        return deps.files.restore(task, opened.files);
      } catch (err) {
        if (err instanceof SecretFilesError) throw new TaskSecretsError(err.message, { cause: err });
        throw err;
      }
    },
    sweep: (live) => deps.files.sweep(live),
  };
}

/** For an agent without a node key or secrets dir (tests of other things): sealed tasks fail, others run as they are. */
export function noTaskSecrets(): TaskSecrets {
  return createTaskSecrets({ privateJwk: undefined, trusted: { keys: [] }, files: noSecretFiles() });
}
