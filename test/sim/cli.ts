// Soak and replay: `npm run sim -- --seeds N [--from S]` runs many seeds; `--seed S` replays one with its trace.
import { runSeed } from "./simulate";

function arg(name: string): number | undefined {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  return v === undefined ? undefined : Number(v);
}

async function main(): Promise<void> {
  const one = arg("--seed");
  const faultMs = arg("--fault-ms");
  if (one !== undefined) {
    const r = await runSeed({ seed: one, keep: 1_000_000, echo: (line) => console.log(line), ...(faultMs ? { faultMs } : {}) });
    if (process.argv.includes("--logs")) console.log(`\ncontrol-plane log:\n${r.logs.join("\n")}`);
    console.log(`\nseed ${one}: ${r.instances} instances, ${r.agents} agents, ${r.steps} steps, trace ${r.digest}`);
    if (r.violation) {
      console.log(`VIOLATION ${r.violation.check}: ${r.violation.detail}`);
      process.exitCode = 1;
    } else console.log(`converged ${r.convergedAfterMs}ms after heal (bound ${r.boundMs}ms); checked ${r.coverage.updateStarts} update starts, ${r.coverage.survivors} scale survivors, ${r.coverage.ended} deployments ended`);
    return;
  }
  const count = arg("--seeds") ?? 20;
  const from = arg("--from") ?? 1;
  let failed = 0;
  for (let seed = from; seed < from + count; seed++) {
    const started = performance.now();
    const r = await runSeed({ seed, ...(faultMs ? { faultMs } : {}) });
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    if (r.violation) {
      failed++;
      console.log(`seed ${seed}: VIOLATION ${r.violation.check}: ${r.violation.detail.slice(0, 300)} (${secs}s)`);
    } else {
      const c = r.coverage;
      console.log(`seed ${seed}: ok, converged in ${r.convergedAfterMs}ms (bound ${r.boundMs}ms), ${r.steps} steps, ${c.updateStarts} update starts, ${c.survivors} scale survivors, ${c.ended} deployments ended, ${secs}s`);
    }
  }
  console.log(`${count - failed}/${count} seeds passed`);
  if (failed > 0) process.exitCode = 1;
}

await main();
