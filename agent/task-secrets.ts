// What a task's container gets beyond its spec when the spec says `sealed`: the payload beside its lease,
// opened with the node's private key, its files on tmpfs (see secret-files.ts) and its secret env values.
//
// Invariants: the opened content lives only in memory, for as long as one start takes, and in the
// container; what is kept (leases.json) is the sealed JWE, never what it opens to. A sealed payload is used
// only for the task and payload hash it was sealed for (openSealed checks both). A sealed task whose payload
// is missing or does not open is never started. Error messages name paths and env names, never values.
// A config file that reads an upstream's address comes as segments (see api/config-template.ts): the
// addresses go in as it is written, from the env the task's networking names its upstreams with.
import type { JWK } from "jose";
import type { TaskSpec } from "../api/agent-protocol";
import { fillUpstreams } from "../api/config-template";
import { openSealed, SealError, type SealedContent, type SealedFile } from "../api/sealed";
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

/**
 * Each of the task's upstreams' address ("gateway:port") by service, as its env names them; undefined when
 * the agent serves no upstreams (it runs without job networks).
 */
export type UpstreamAddresses = ReadonlyMap<string, string> | undefined;

export interface TaskSecrets {
  /** Opens the task's sealed payload (nothing for a task that is not sealed). Throws TaskSecretsError. */
  open(task: SealedTask): Promise<OpenedSecrets>;
  /** Puts the opened files in place for the task's next container; returns their mounts. Throws TaskSecretsError. */
  place(task: ContainerKey, opened: OpenedSecrets, upstreams: UpstreamAddresses): FileMount[];
  /**
   * For a container that already runs (an agent restart): writes back any of its files that are gone.
   * `upstreams` is asked only when a file reads an upstream's address.
   */
  restore(task: SealedTask, upstreams: () => Promise<UpstreamAddresses>): Promise<number>;
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

  function place(task: ContainerKey, opened: OpenedSecrets, upstreams: UpstreamAddresses): FileMount[] {
    if (opened.files.length === 0) return [];
    const files = withAddresses(opened.files, upstreams);
    try {
      return deps.files.write(task, files);
    } catch (err) {
      if (err instanceof SecretFilesError) throw new TaskSecretsError(err.message, { cause: err });
      throw err;
    }
  }

  return {
    open,
    place,
    async restore(task, upstreams) {
      const opened = await open(task);
      if (opened.files.length === 0) return 0;
      const files = withAddresses(opened.files, opened.files.some((f) => "segments" in f) ? await upstreams() : undefined);
      try {
        return deps.files.restore(task, files);
      } catch (err) {
        if (err instanceof SecretFilesError) throw new TaskSecretsError(err.message, { cause: err });
        throw err;
      }
    },
    sweep: (live) => deps.files.sweep(live),
  };
}

/** The files as written: each template file with its upstreams' addresses put in. Throws TaskSecretsError. */
function withAddresses(files: SealedContent["files"], upstreams: UpstreamAddresses): SealedFile[] {
  return files.map((f) => {
    if ("data" in f) return f;
    const text = fillUpstreams(f.segments, (service) => {
      // Without job networks the env leaves LEASEHOLD_UPSTREAM_<NAME>_ADDR out, which a program can see; a
      // file cannot leave a hole out, and any address put there would name a listener that is not there.
      // So the start fails, saying why, rather than run with an address that does not answer.
      if (upstreams === undefined) throw new TaskSecretsError(`config file ${f.path} reads the address of upstream "${service}", but this agent serves no upstreams (it runs without job networks)`);
      const address = upstreams.get(service);
      if (address === undefined) throw new TaskSecretsError(`config file ${f.path} reads the address of upstream "${service}", which the task does not declare`);
      return address;
    });
    return { path: f.path, mode: f.mode, data: Buffer.from(text, "utf8").toString("base64") };
  });
}

/** For an agent without a node key or secrets dir (tests of other things): sealed tasks fail, others run as they are. */
export function noTaskSecrets(): TaskSecrets {
  return createTaskSecrets({ privateJwk: undefined, trusted: { keys: [] }, files: noSecretFiles() });
}
