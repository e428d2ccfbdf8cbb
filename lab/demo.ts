/**
 * `npm run demo`: the etcd space runbook, end to end, on a local cluster. Fills a 3-member cluster until etcd
 * refuses writes (NOSPACE), then lets EtcdCompaction fix it through the Pulumi engine protocol, and shows that
 * nothing drifts afterwards. Every process it starts is stopped by pid before it exits, Ctrl-C included.
 *
 * The demo is a list of steps (see STEPS); a new one is a small async function appended there.
 */
import { execFile, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import type { ClusterObservation } from "../provider/etcd/cluster";
import { ClusterSession } from "../provider/etcd/cluster";
import { compactionSettings, describeStep, planCompaction } from "../provider/plan/compaction";
import { formatSize } from "../provider/size";
import { providerShim, SECRET_OUTPUTS } from "../sdk/shim";
import type { LabCluster } from "./cluster";
import type { SupervisedCluster } from "./supervisor";
import { EngineStack, type PropertyMap, ProviderHost } from "./engine";
import { type EtcdBinary, etcdBinary, REPO_ROOT } from "./etcd-binary";
import { fill } from "./fill";
import { statusTable } from "./status-table";

const MiB = 1024 ** 2;
const MEMBERS = 3;
/** Small enough to fill in a few seconds (~7 s here), large enough for the numbers to mean something. */
const QUOTA_BYTES = 128 * MiB;
/** What EtcdQuota raises it to. */
const RAISED_QUOTA_BYTES = 256 * MiB;
const QUOTA_TYPE = "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota";
const COMPACTION_TYPE = "pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction";
const RESOURCE = "space";
const PROJECT = "etcd-quota-demo";
const ETCDCTL_TIMEOUT_MS = 20_000;

const run = promisify(execFile);

/** What the steps share. Each step fills in what later steps and the final clean-up need. */
interface Demo {
  readonly etcd: EtcdBinary;
  /** The lab module, loaded once etcd is known to be installed (see findEtcd). */
  readonly lab: typeof import("./cluster");
  /** The supervisor module (it loads the lab), loaded with it. */
  readonly supervisor: typeof import("./supervisor");
  /** Started with the cluster, awaited when first needed. */
  host?: Promise<ProviderHost>;
  cluster?: LabCluster;
  /** Restarts members from their systemd units, as systemd would; EtcdQuota edits those units. */
  supervised?: SupervisedCluster;
  stack?: EngineStack;
  /** The latest status table's observation. */
  observation?: ClusterObservation;
  /** EtcdCompaction's outputs after `up`. */
  compaction?: PropertyMap;
}

interface Step {
  readonly title: string;
  readonly run: (demo: Demo) => Promise<void>;
}

const STEPS: readonly Step[] = [
  { title: `Start a local ${MEMBERS}-member etcd cluster with a ${formatSize(QUOTA_BYTES)} quota`, run: startCluster },
  { title: "Fill it until etcd refuses writes (NOSPACE), as in the runbook", run: fillToNoSpace },
  { title: "Status: DB size against the quota, reclaimable space, alarms", run: showStatus },
  { title: "EtcdCompaction through the Pulumi engine protocol: preview, then up", run: compactWithPulumi },
  { title: "Status after EtcdCompaction", run: showOutcome },
  { title: "Refresh: the cluster matches the stack", run: checkNoDrift },
  {
    title: `EtcdQuota: raise the quota to ${formatSize(RAISED_QUOTA_BYTES)}, one member at a time, verified live`,
    run: raiseQuota,
  },
];

function say(line = ""): void {
  console.log(line);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Finds etcd with the lab's own lookup. When it is missing, runs `lab/install-etcd.sh` if that can work here (3.4
 * installs with apt and needs root; the 3.5 builds unpack into .cache/ without it), otherwise says what to install.
 */
async function findEtcd(): Promise<Pick<Demo, "etcd" | "lab" | "supervisor">> {
  try {
    return { etcd: etcdBinary(), lab: require("./cluster"), supervisor: require("./supervisor") };
  } catch (error) {
    const version = process.env.ETCD_VERSION ?? "3.4";
    const installArg = /^3\.4(\.|$)/.test(version) ? "3.4" : version;
    const message = error instanceof Error ? error.message : String(error);
    if (installArg === "3.4" && process.getuid?.() !== 0) {
      throw new Error(
        `${message}\nThat needs root: run \`sudo bash lab/install-etcd.sh\` (apt-get install etcd-server etcd-client), ` +
          "or run the demo as root and it installs them itself.",
      );
    }
    say(`etcd ${version} is not installed; running: bash lab/install-etcd.sh ${installArg}`);
    await new Promise<void>((resolve, reject) => {
      const child = spawn("bash", [path.join(REPO_ROOT, "lab", "install-etcd.sh"), installArg], { stdio: "inherit" });
      child.on("error", reject);
      child.on("exit", (code, signal) =>
        code === 0 ? resolve() : reject(new Error(`lab/install-etcd.sh failed (exit code ${code ?? signal})`)),
      );
    });
    // etcd-binary remembers that etcd was missing: load it and the lab afresh so that they see the new install.
    delete require.cache[require.resolve("./etcd-binary")];
    delete require.cache[require.resolve("./cluster")];
    return {
      etcd: require("./etcd-binary").etcdBinary(),
      lab: require("./cluster"),
      supervisor: require("./supervisor"),
    };
  }
}

/** The Pulumi host loads the provider from the package's build output, as it would in a user's program. */
function assertBuilt(): void {
  const built = path.join(REPO_ROOT, "dist", "provider", "index.js");
  if (!fs.existsSync(built)) {
    throw new Error(`${path.relative(REPO_ROOT, built)} is missing; run \`npm run build\` first (npm ci runs it too)`);
  }
}

function cluster(demo: Demo): LabCluster {
  if (!demo.cluster) throw new Error("the cluster is not running");
  return demo.cluster;
}

/** `etcdctl --endpoints=<the cluster>`; a non-zero exit is an answer, not an exception. */
async function etcdctl(demo: Demo, args: readonly string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  // ETCDCTL_* from the caller's shell (an API version, other endpoints) would change what these commands mean.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("ETCDCTL_")));
  try {
    const { stdout, stderr } = await run(
      demo.etcd.etcdctl,
      [`--endpoints=${cluster(demo).endpoints.join(",")}`, ...args],
      { env: { ...env, ETCDCTL_API: "3" }, timeout: ETCDCTL_TIMEOUT_MS },
    );
    return { ok: true, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; killed?: boolean; stdout?: string; stderr?: string };
    if (typeof failed.code !== "number" || failed.killed) throw error;
    return { ok: false, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

async function observe(demo: Demo): Promise<ClusterObservation> {
  const session = new ClusterSession({ endpoints: cluster(demo).endpoints });
  try {
    return await session.observe();
  } finally {
    session.close();
  }
}

function printTable(observation: ClusterObservation): void {
  for (const line of statusTable(observation).split("\n")) say(`  ${line}`);
}

async function startCluster(demo: Demo): Promise<void> {
  say(`  etcd ${demo.etcd.version} (${demo.etcd.etcd})`);
  // The provider host starts meanwhile; step 4 needs it.
  demo.host = ProviderHost.start({ project: PROJECT });
  demo.host.catch(() => undefined); // awaited (and reported) later; never an unhandled rejection
  demo.supervised = await demo.supervisor.SupervisedCluster.start({
    format: "systemd-unit",
    members: MEMBERS,
    quotaBytes: QUOTA_BYTES,
  });
  demo.cluster = demo.supervised.lab;
  say(`  cluster folder: ${demo.cluster.dir}`);
  say(`  each member runs from its own systemd unit (a stand-in for systemd restarts it from that file):`);
  announceMembers(demo.supervised);
  say(`  ENDPOINTS=${demo.cluster.endpoints.join(",")}`);
}

function announceMembers(supervised: SupervisedCluster): void {
  for (const member of supervised.lab.members) {
    say(
      `  ${member.name}: pid ${supervised.pid(member.name)}, client ${member.clientUrl}, unit ${supervised.configFile(member.name)}`,
    );
  }
}

async function fillToNoSpace(demo: Demo): Promise<void> {
  say("  writing 128 KiB values to 64 keys, over and over, until etcd refuses them ...");
  const started = Date.now();
  const result = await fill(cluster(demo).endpoints, { untilNoSpace: true });
  if (!result.noSpace) throw new Error("the fill ended without NOSPACE");
  say(
    `  ${result.keysWritten} puts in ${seconds(Date.now() - started)}; largest DB ${formatSize(result.bytes)}, ` +
      `quota ${formatSize(QUOTA_BYTES)}`,
  );
  say();
  say(`  $ etcdctl --endpoints=$ENDPOINTS put demo/probe "one more write"`);
  const put = await etcdctl(demo, ["put", "demo/probe", "one more write"]);
  const error = put.stderr.split("\n").find((line) => line.startsWith("Error:"));
  if (put.ok || !error?.includes("mvcc: database space exceeded")) {
    throw new Error(`expected etcd to refuse the write with NOSPACE; etcdctl said: ${put.stdout}${put.stderr}`);
  }
  say(`  ${error}`);
  say(`  $ etcdctl --endpoints=$ENDPOINTS alarm list`);
  const alarms = await etcdctl(demo, ["alarm", "list"]);
  if (!alarms.ok) throw new Error(`etcdctl alarm list failed: ${alarms.stderr}`);
  for (const line of alarms.stdout.trimEnd().split("\n")) say(`  ${line.trimEnd()}`);
}

async function showStatus(demo: Demo): Promise<void> {
  demo.observation = await observe(demo);
  printTable(demo.observation);
}

async function compactWithPulumi(demo: Demo): Promise<void> {
  const host = await demo.host!;
  say(`  provider host: pid ${host.pid}, port ${host.port}`);
  demo.stack = new EngineStack(host, { provider: providerShim("compaction"), type: COMPACTION_TYPE, stack: "demo" });
  const inputs = { endpoints: cluster(demo).endpoints };

  say();
  say("  $ pulumi preview");
  const preview = await demo.stack.preview(RESOURCE, inputs);
  if (preview.op === "failed") {
    throw new Error(`check failed: ${preview.failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`);
  }
  say(`  preview: ${preview.op}`);
  say(`    + ${COMPACTION_TYPE} "${RESOURCE}"`);
  for (const [key, value] of Object.entries(preview.inputs)) {
    if (key !== "__provider") say(`        ${key}: ${JSON.stringify(value)}`);
  }
  // The same planner the provider runs, on the cluster as the status table saw it.
  const plan = planCompaction(demo.observation ?? (await observe(demo)), compactionSettings(inputs));
  say(`    plan:`);
  plan.forEach((step, i) => say(`      ${i + 1}. ${describeStep(step)}`));

  say();
  say("  $ pulumi up");
  demo.compaction = await upWithProgress(host, demo.stack, RESOURCE, inputs, "EtcdCompaction: ");
}

/** `pulumi up` of one resource, printing the provider's progress lines as they come, with the time since the start. */
async function upWithProgress(
  host: ProviderHost,
  stack: EngineStack,
  resource: string,
  inputs: PropertyMap,
  prefix: string,
): Promise<PropertyMap> {
  let printed = host.logs.length;
  const started = Date.now();
  const printProgress = () => {
    for (; printed < host.logs.length; printed++) {
      const line = host.logs[printed];
      if (line.startsWith(prefix)) {
        say(`    ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s  ${line.slice(prefix.length)}`);
      }
    }
  };
  const ticker = setInterval(printProgress, 50);
  let up: Awaited<ReturnType<EngineStack["up"]>>;
  try {
    up = await stack.up(resource, inputs);
  } finally {
    clearInterval(ticker);
    printProgress();
  }
  if (up.op === "failed" || up.outputs === undefined) {
    throw new Error(`up failed: ${up.failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`);
  }
  say(`  up: ${up.op} in ${seconds(Date.now() - started)}`);
  return up.outputs;
}

/** EtcdQuota on the same cluster: each member's unit is edited and the member restarted, one at a time. */
async function raiseQuota(demo: Demo): Promise<void> {
  const supervised = demo.supervised!;
  const host = await demo.host!;
  const liveQuotas = async () =>
    (await observe(demo)).members.map((m) => `${m.name} ${formatSize(m.metrics.quotaBytes ?? 0)}`).join(", ");
  say(`  live quota before: ${await liveQuotas()}`);
  const stack = new EngineStack(host, {
    provider: providerShim("quota"),
    type: QUOTA_TYPE,
    stack: "demo",
    additionalSecretOutputs: SECRET_OUTPUTS.quota,
  });
  const inputs = {
    quota: formatSize(RAISED_QUOTA_BYTES).replace(" ", ""),
    members: supervised.quotaMembers(),
    restartTimeout: "60s",
  };
  say();
  say("  $ pulumi preview");
  const preview = await stack.preview("quota", inputs);
  if (preview.op === "failed") {
    throw new Error(`check failed: ${preview.failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`);
  }
  say(`  preview: ${preview.op} ${QUOTA_TYPE} "quota" (quota: ${JSON.stringify(inputs.quota)})`);
  say();
  say("  $ pulumi up");
  const outputs = await upWithProgress(host, stack, "quota", inputs, "EtcdQuota: ");
  say();
  say(`  live quota after: ${await liveQuotas()}`);
  const records = outputs.members as { name: string; configuredBytes: number; liveBytes: number }[];
  for (const record of records) {
    say(`  ${record.name}: unit says ${formatSize(record.configuredBytes)}, etcd runs ${formatSize(record.liveBytes)}`);
  }
  announceMembers(supervised);
  const refreshed = await stack.previewRefresh("quota", inputs);
  say(`  $ pulumi preview --refresh\n  preview --refresh: ${refreshed.op === "same" ? "no changes" : refreshed.op}`);
}

async function showOutcome(demo: Demo): Promise<void> {
  const before = demo.observation;
  const after = await observe(demo);
  demo.observation = after;
  printTable(after);
  if (after.alarms.length > 0) {
    throw new Error(`alarms are still raised: ${after.alarms.map((a) => a.type).join(", ")}`);
  }

  say();
  say(`  $ etcdctl --endpoints=$ENDPOINTS put demo/after-maintenance ok`);
  const put = await etcdctl(demo, ["put", "demo/after-maintenance", "ok"]);
  if (!put.ok) throw new Error(`the test write failed: ${put.stderr.trim()}`);
  say(`  ${put.stdout.trim()}`);

  const outputs = demo.compaction ?? {};
  const disarmed = byAlarm((outputs.alarmsDisarmed as string[] | undefined) ?? []);
  const total = (o: ClusterObservation | undefined) => (o?.members ?? []).reduce((sum, m) => sum + m.dbSize, 0);
  say();
  say(
    `  summary: reclaimed ${formatSize(Number(outputs.reclaimedBytes ?? 0))} ` +
      `(DB files ${formatSize(total(before))} -> ${formatSize(total(after))} over ${after.members.length} members); ` +
      `disarmed ${disarmed || "no alarm"}; test write succeeded`,
  );
}

/** `["NOSPACE on m3", "NOSPACE on m1"]` -> `NOSPACE on m1, m3`. */
function byAlarm(disarmed: readonly string[]): string {
  const members = new Map<string, string[]>();
  for (const entry of disarmed) {
    const [type, member] = entry.split(" on ");
    members.set(type, [...(members.get(type) ?? []), member ?? "?"]);
  }
  return [...members].map(([type, names]) => `${type} on ${names.sort().join(", ")}`).join("; ");
}

async function checkNoDrift(demo: Demo): Promise<void> {
  const stack = demo.stack!;
  const inputs = { endpoints: cluster(demo).endpoints };
  say("  $ pulumi refresh");
  const refresh = await stack.refresh(RESOURCE);
  say(`  refresh: ${refresh.changed ? "changed" : "no changes"} (maintenance: ${refresh.outputs?.maintenance})`);
  say("  $ pulumi preview --refresh");
  const preview = await stack.previewRefresh(RESOURCE, inputs);
  if (preview.op !== "same") {
    throw new Error(`preview --refresh: ${preview.op} (${preview.diffs.join(", ")}); expected no changes`);
  }
  say("  preview --refresh: no changes");
}

/** Stops what was started, each by its pid; safe to call twice (Ctrl-C during the normal clean-up). */
function stopAll(demo: Partial<Demo>): Promise<void> {
  stopping ??= (async () => {
    if (!demo.cluster && !demo.host) return;
    say();
    say("== Stop everything");
    const problems: string[] = [];
    if (demo.cluster) {
      try {
        await (demo.supervised ?? demo.cluster).stop();
        say(`  removed ${demo.cluster.dir}`);
      } catch (error) {
        problems.push(`stopping the cluster: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    const host = await demo.host?.catch(() => undefined);
    if (host) {
      await host.stop();
      say(`  stopped the provider host (pid ${host.pid})`);
    }
    if (problems.length > 0) throw new Error(problems.join("; "));
  })();
  return stopping;
}

let stopping: Promise<void> | undefined;
let interrupted = false;

async function main(): Promise<number> {
  const started = Date.now();
  const demo: Partial<Demo> = {};
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      // A second Ctrl-C: exit now; the exit hooks of the lab and the host SIGKILL what is left.
      process.exit(130);
    }
    interrupted = true;
    say(`\n${signal}: stopping (Ctrl-C again to kill everything at once)`);
    const exit = (code: number) => {
      // A moment for the event loop to reap the members that just exited, so that none is left a zombie.
      setTimeout(() => process.exit(code), 200);
    };
    stopAll(demo).then(
      () => exit(signal === "SIGINT" ? 130 : 143),
      (error: unknown) => {
        console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
        exit(1);
      },
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let failure: unknown;
  try {
    assertBuilt();
    Object.assign(demo, await findEtcd());
    for (const [i, step] of STEPS.entries()) {
      say();
      say(`== ${i + 1}. ${step.title}`);
      await step.run(demo as Demo);
    }
  } catch (error) {
    failure = error;
  } finally {
    try {
      await stopAll(demo);
    } catch (error) {
      failure ??= error;
    }
  }
  if (interrupted) return 130; // the signal handler exits once the clean-up is done
  say();
  if (failure !== undefined) {
    console.error(
      `demo failed after ${seconds(Date.now() - started)}: ${failure instanceof Error ? failure.message : String(failure)}`,
    );
    return 1;
  }
  say(`demo finished in ${seconds(Date.now() - started)}`);
  return 0;
}

main().then((code) => {
  process.exitCode = code;
});
