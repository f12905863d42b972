// ensureImage tells onPull of each pull it makes, with its duration and outcome. The test machine's images
// are imported, never pulled, so the engine here is a stand-in dockerode: an image missing until pulled.
import { Readable } from "node:stream";
import type Dockerode from "dockerode";
import { describe, expect, it } from "vitest";
import { createDockerRuntime, type ImagePull } from "./index";

/** A dockerode whose image is present once a pull has streamed `lines`; pull errors come as lines, as the engine sends them. */
function engineWithPull(lines: object[]): { docker: Dockerode; pulls: () => number } {
  let present = false;
  let pulls = 0;
  const docker = {
    getImage: () => ({
      inspect: async () => {
        if (!present) throw Object.assign(new Error("no such image"), { statusCode: 404 });
        return {};
      },
    }),
    pull: async () => {
      pulls++;
      const failed = lines.some((l) => "error" in l);
      return Readable.from(lines.map((l) => `${JSON.stringify(l)}\n`)).on("end", () => {
        present = !failed;
      });
    },
  };
  return { docker: docker as unknown as Dockerode, pulls: () => pulls };
}

describe("ensureImage's pulls", () => {
  it("reports a pull that left the image, with how long it took", async () => {
    const seen: ImagePull[] = [];
    const engine = engineWithPull([{ status: "Pulling from library/busybox" }, { status: "Download complete" }]);
    const runtime = createDockerRuntime({ docker: engine.docker, onPull: (p) => seen.push(p) });
    await runtime.ensureImage("busybox:1", { timeoutMs: 5_000 });
    expect(seen).toEqual([{ image: "busybox:1", seconds: expect.any(Number), ok: true }]);
    expect(seen[0]!.seconds).toBeGreaterThanOrEqual(0);
    // Present now: no pull, nothing reported.
    await runtime.ensureImage("busybox:1", { timeoutMs: 5_000 });
    expect(engine.pulls()).toBe(1);
    expect(seen).toHaveLength(1);
  });

  it("reports a pull the engine failed", async () => {
    const seen: ImagePull[] = [];
    const runtime = createDockerRuntime({ docker: engineWithPull([{ error: "manifest unknown", errorDetail: { message: "manifest unknown" } }]).docker, onPull: (p) => seen.push(p) });
    await expect(runtime.ensureImage("busybox:none", { timeoutMs: 5_000 })).rejects.toThrow(/pull failed: manifest unknown/);
    expect(seen.map((p) => [p.image, p.ok])).toEqual([["busybox:none", false]]);
  });
});
