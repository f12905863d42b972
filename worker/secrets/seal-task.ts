// At claim time: the task's secret files, rendered config files and secret env, sealed to the claiming
// node's key. The plaintext exists here only while the payload is built; what is kept (per instance, to
// answer the repeated claims of one lease) is the sealed text, which only that node can open.
import type { Client } from "@libsql/client";
import { parseTemplate, renderTemplate, type TaskValues } from "../../api/config-template";
import { modeBits, type JobSpec } from "../../api/job-spec";
import { nodeKeyId, sealFor, type NodeEncryptionKey, type SealedContent, type SealedFile, type SealedTemplateFile, type SealSigner } from "../../api/sealed";
import { bytesToBase64 } from "./base64";
import { decryptValue, type Keyring } from "./keyring";
import type { SecretVersions } from "./versions";

export interface SealTarget {
  taskId: string;
  epoch: number;
  ph: string;
  slot: number;
  version: number;
  spec: JobSpec;
  secretVersions: SecretVersions | null;
}

export interface SealingNode {
  name: string;
  region: string;
  key: NodeEncryptionKey;
}

/** Sealed payloads kept per instance (ciphertext only), by task, epoch, payload hash and node key. */
const CACHE_LIMIT = 5_000;
const CACHE_ENTRY_MAX = 256 * 1024;
const cache = new Map<string, string>();

/**
 * Seals each target's payload to `node`. Secrets are read (and decrypted) once per claim for all of them.
 * A secret that is gone (deleted after the version was written) or will not decrypt throws: the claim
 * fails, and the lease stays unclaimed rather than running without its secrets.
 */
export async function sealTasks(client: Client, keyring: Keyring, signer: SealSigner, node: SealingNode, targets: SealTarget[]): Promise<Map<string, string>> {
  const sealed = new Map<string, string>();
  if (targets.length === 0) return sealed;
  const kid = await keyIdOf(node.key);
  const misses: SealTarget[] = [];
  for (const t of targets) {
    const hit = cache.get(cacheKey(t, `${kid}/${signer.kid}`));
    if (hit !== undefined) sealed.set(t.taskId, hit);
    else misses.push(t);
  }
  if (misses.length === 0) return sealed;
  const values = await readSecretValues(client, keyring, misses);
  for (const t of misses) {
    const content = contentOf(t, node, values);
    const jwe = await sealFor(node.key, content, signer);
    sealed.set(t.taskId, jwe);
    if (jwe.length <= CACHE_ENTRY_MAX) {
      if (cache.size >= CACHE_LIMIT) {
        const oldest = cache.keys().next();
        if (!oldest.done) cache.delete(oldest.value);
      }
      cache.set(cacheKey(t, `${kid}/${signer.kid}`), jwe);
    }
  }
  return sealed;
}

/** Node key thumbprints by the key's public value: a claim that finds its payloads cached hashes nothing. */
const keyIds = new Map<string, string>();
async function keyIdOf(key: NodeEncryptionKey): Promise<string> {
  let kid = keyIds.get(key.x);
  if (kid === undefined) {
    kid = await nodeKeyId(key);
    if (keyIds.size >= CACHE_LIMIT) keyIds.clear();
    keyIds.set(key.x, kid);
  }
  return kid;
}

const cacheKey = (t: SealTarget, kid: string) => `${t.taskId}\u0000${t.epoch}\u0000${t.ph}\u0000${kid}`;
const valueKey = (namespace: string, name: string, version: number) => `${namespace}\u0000${name}\u0000${version}`;

/** The plaintext of every secret version the targets read, by namespace, name and version. */
async function readSecretValues(client: Client, keyring: Keyring, targets: SealTarget[]): Promise<Map<string, Uint8Array>> {
  const wanted = new Map<string, [string, string, number]>();
  for (const t of targets) for (const [name, version] of Object.entries(t.secretVersions ?? {})) wanted.set(valueKey(t.spec.namespace, name, version), [t.spec.namespace, name, version]);
  const values = new Map<string, Uint8Array>();
  if (wanted.size === 0) return values;
  const rows = await client.execute({
    sql: `SELECT s.namespace, s.name, s.version, s.ciphertext, s.iv, s.key_id FROM secrets s
          JOIN json_each(?) w ON s.namespace = json_extract(w.value, '$[0]') AND s.name = json_extract(w.value, '$[1]') AND s.version = json_extract(w.value, '$[2]')`,
    args: [JSON.stringify([...wanted.values()])],
  });
  for (const r of rows.rows) {
    const at = { namespace: String(r["namespace"]), name: String(r["name"]), version: Number(r["version"]) };
    values.set(valueKey(at.namespace, at.name, at.version), await decryptValue(keyring, at, { ciphertext: String(r["ciphertext"]), iv: String(r["iv"]), keyId: String(r["key_id"]) }));
  }
  for (const [key, [namespace, name, version]] of wanted) {
    if (!values.has(key)) throw new Error(`secret ${namespace}/${name} version ${version} is gone: the task cannot be given it`);
  }
  return values;
}

function contentOf(t: SealTarget, node: SealingNode, values: Map<string, Uint8Array>): SealedContent {
  const { spec } = t;
  const valueOf = (name: string): Uint8Array => {
    const version = t.secretVersions?.[name];
    const value = version === undefined ? undefined : values.get(valueKey(spec.namespace, name, version));
    if (!value) throw new Error(`secret ${spec.namespace}/${name} was not resolved for this version`);
    return value;
  };
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const taskValues: TaskValues = { job: spec.name, namespace: spec.namespace, slot: String(t.slot), version: String(t.version), region: node.region, node: node.name };
  const files: (SealedFile | SealedTemplateFile)[] = [];
  const env: Record<string, string> = {};
  for (const ref of spec.secrets ?? []) {
    if (ref.file !== undefined) files.push({ path: ref.file, mode: modeBits(ref.mode ?? "0400"), data: bytesToBase64(valueOf(ref.name)) });
    else if (ref.env !== undefined) env[ref.env] = text(valueOf(ref.name));
  }
  for (const file of spec.config ?? []) {
    const segments = renderTemplate(parseTemplate(file.content), taskValues, (name) => text(valueOf(name)));
    const mode = modeBits(file.mode ?? "0444");
    // A file without upstream holes keeps the form every agent knows: its payload is what it was before them.
    if (segments.every((s): s is { text: string } => "text" in s)) {
      files.push({ path: file.file, mode, data: bytesToBase64(new TextEncoder().encode(segments.map((s) => s.text).join(""))) });
    } else files.push({ path: file.file, mode, segments });
  }
  return { v: 1, taskId: t.taskId, ph: t.ph, files, env };
}
