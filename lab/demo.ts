/**
 * `npm run demo`: the etcd space runbook, end to end, on a local cluster, through the real `pulumi` CLI. Fills a
 * 3-member cluster until etcd refuses writes (NOSPACE), then `pulumi up` of a program declaring EtcdCompaction fixes
 * it, `pulumi preview --refresh` shows that nothing drifts, and EtcdQuota raises the quota one member at a time. The
 * program is a Pulumi project of its own in a temporary folder, with this package installed from its `npm pack`
 * tarball, as a user installs it. Every process it starts is stopped by pid before it exits, Ctrl-C included.
 *
 * The demo is a list of steps (see STEPS); a new one is a small async function appended there.
 */
import { execFile, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import type { ClusterObservation } from "../provider/types/observation";
import type { SnapshotRecord } from "../provider/types/snapshot";
import { ClusterSession } from "../provider/etcd/cluster";
import { formatSize } from "../provider/values/size";
import type { LabCluster } from "./cluster";
import type { SupervisedCluster } from "./supervisor";
import { DEFAULT_ETCD_VERSION, type EtcdBinary, etcdBinary, REPO_ROOT } from "./etcd-binary";
import { listConfig, pulumiBinDir, PulumiProject } from "./pulumi-cli";
import { fill } from "./fill";
import { statusTable } from "./status-table";

const MiB = 1024 ** 2;
const MEMBERS = 3;
/** Small enough to fill in a few seconds (~7 s here), large enough for the numbers to mean something. */
const QUOTA_BYTES = 128 * MiB;
/** What EtcdQuota raises it to. */
const RAISED_QUOTA_BYTES = 256 * MiB;
const PROJECT = "etcd-space-demo";
const STACK = "demo";
const ETCDCTL_TIMEOUT_MS = 20_000;

/** The demo's Pulumi program: EtcdCompaction always, EtcdQuota once the stack config declares a quota. */
const PROGRAM = `import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction, EtcdQuota, QuotaMemberArgs } from "pulumi-etcd-quota";

const config = new pulumi.Config();
const endpoints = config.requireObject<string[]>("endpoints");
const declared = config.get("quota");
const quota = declared
  ? new EtcdQuota("quota", { quota: declared, members: config.requireObject<QuotaMemberArgs[]>("members") })
  : undefined;
const space = new EtcdCompaction(
  "space",
  { endpoints, snapshot: { path: "snapshots/{stack}-{resource}-{time}.db", keep: 2 } },
  { dependsOn: quota ? [quota] : [] },
);

export const maintenance = space.maintenance;
export const reclaimedBytes = space.reclaimedBytes;
export const alarmsDisarmed = space.alarmsDisarmed;
export const snapshot = space.snapshotTaken;
export const forecast = space.forecast;
export const quotaBytes = quota ? quota.quotaBytes : "no quota declared";
`;

const run = promisify(execFile);

/** What the steps share. Each step fills in what later steps and the final clean-up need. */
interface Demo {
  readonly etcd: EtcdBinary;
  /** The lab module, loaded once etcd is known to be installed (see findEtcd). */
  readonly lab: typeof import("./cluster");
  /** The supervisor module (it loads the lab), loaded with it. */
  readonly supervisor: typeof import("./supervisor");
  /** The program's project folder, made while the cluster starts; awaited when first needed. */
  project?: Promise<PulumiProject>;
  cluster?: LabCluster;
  /** Restarts members from their systemd units, as systemd would; EtcdQuota edits those units. */
  supervised?: SupervisedCluster;
  /** The latest status table's observation. */
  observation?: ClusterObservation;
  /** The stack's outputs after the first `up`. */
  compaction?: Record<string, unknown>;
}

interface Step {
  readonly title: string;
  readonly run: (demo: Demo) => Promise<void>;
}

const STEPS: readonly Step[] = [
  { title: `Start a local ${MEMBERS}-member etcd cluster with a ${formatSize(QUOTA_BYTES)} quota`, run: startCluster },
  { title: "Fill it until etcd refuses writes (NOSPACE), as in the runbook", run: fillToNoSpace },
  { title: "Status: DB size against the quota, reclaimable space, alarms", run: showStatus },
  { title: "EtcdCompaction through the pulumi CLI: preview, then up", run: compactWithPulumi },
  { title: "Status after EtcdCompaction", run: showOutcome },
  { title: "pulumi preview --refresh: the cluster matches the stack", run: checkNoDrift },
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
 * installs with apt and needs root; 3.5 and 3.6 land in caches without it), otherwise says what to install.
 */
async function findEtcd(): Promise<Pick<Demo, "etcd" | "lab" | "supervisor">> {
  try {
    return { etcd: etcdBinary(), lab: require("./cluster"), supervisor: require("./supervisor") };
  } catch (error) {
    const version = process.env.ETCD_VERSION ?? DEFAULT_ETCD_VERSION;
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
  // The provider verifies its snapshot with etcdutl when it finds one on the PATH; the release's sits beside etcd.
  const etcdutl = path.join(path.dirname(demo.etcd.etcd), "etcdutl");
  if (fs.existsSync(etcdutl)) process.env.PATH = `${path.dirname(etcdutl)}${path.delimiter}${process.env.PATH}`;
  // The program's folder and its npm install are made meanwhile; step 4 needs them.
  demo.project = PulumiProject.create({ name: PROJECT, program: PROGRAM });
  demo.project.catch(() => undefined); // awaited (and reported) later; never an unhandled rejection
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
  const project = await demo.project!;
  say(`  program: ${path.join(project.dir, "index.ts")} (pulumi-etcd-quota installed from its npm pack tarball)`);
  say(`  state: a file:// backend beside it; pulumi ${await pulumiVersion(project)} from ${pulumiBinDir()}`);
  await project.initStack(STACK, listConfig("endpoints", cluster(demo).endpoints));
  await pulumi(project, ["preview"]);
  const started = Date.now();
  await pulumi(project, ["up", "--yes"]);
  say(`  up finished in ${seconds(Date.now() - started)}`);
  demo.compaction = await project.outputs(STACK);
}

async function pulumiVersion(project: PulumiProject): Promise<string> {
  return (await project.run(["version"])).stdout.trim();
}

/** Runs `pulumi ARGS` on the demo stack, showing the CLI's own output as it comes. */
async function pulumi(project: PulumiProject, args: readonly string[], check = true): Promise<number | null> {
  say();
  say(`  $ pulumi ${args.join(" ")}`);
  let pending = "";
  const show = (text: string) => {
    const lines = (pending + text).split("\n");
    pending = lines.pop()!;
    for (const line of lines) say(`  │ ${line}`);
  };
  const result = await project.run([...args, "--stack", STACK], { check: false, onOutput: show });
  if (pending) say(`  │ ${pending}`);
  if (check && result.code !== 0) {
    throw new Error(`pulumi ${args.join(" ")} exited with ${result.code ?? result.signal}: ${result.stderr.trim()}`);
  }
  return result.code;
}

/** EtcdQuota on the same cluster: each member's unit is edited and the member restarted, one at a time. */
async function raiseQuota(demo: Demo): Promise<void> {
  const supervised = demo.supervised!;
  const project = await demo.project!;
  const liveQuotas = async () =>
    (await observe(demo)).members.map((m) => `${m.name} ${formatSize(m.metrics.quotaBytes ?? 0)}`).join(", ");
  say(`  live quota before: ${await liveQuotas()}`);
  const quota = formatSize(RAISED_QUOTA_BYTES).replace(" ", "");
  say();
  say(`  $ pulumi config set quota ${quota}   # and members[i].endpoint / configFile / restartCommand`);
  await project.setConfig(STACK, { quota, ...listConfig("members", supervised.quotaMembers()) });
  await pulumi(project, ["up", "--yes"]);
  say();
  say(`  live quota after: ${await liveQuotas()}`);
  announceMembers(supervised);
  await expectNoDrift(project);
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
  const snapshot = outputs.snapshot as SnapshotRecord | undefined;
  if (!snapshot) throw new Error("EtcdCompaction took no snapshot");
  const project = await demo.project!;
  say();
  say(
    `  snapshot before compacting: ${path.relative(project.dir, snapshot.path)} (${formatSize(snapshot.sizeBytes)} ` +
      `from ${snapshot.member}, revision ${snapshot.revision}), verified by ${snapshot.verifiedBy}`,
  );
  // The run starts the growth series again; scheduled refreshes add to it (README: Forecast).
  say(`  forecast: ${String(outputs.forecast)}`);
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
  await expectNoDrift(await demo.project!);
}

/** `pulumi preview --refresh --expect-no-changes`, right after an `up`: it must find nothing. */
async function expectNoDrift(project: PulumiProject): Promise<void> {
  const code = await pulumi(project, ["preview", "--refresh", "--expect-no-changes"], false);
  say(`  preview --refresh: ${code === 0 ? "no changes" : "changes found"}`);
  if (code !== 0) throw new Error("pulumi preview --refresh found changes right after up");
}

/** Stops what was started, each by its pid; safe to call twice (Ctrl-C during the normal clean-up). */
function stopAll(demo: Partial<Demo>): Promise<void> {
  stopping ??= (async () => {
    if (!demo.cluster && !demo.project) return;
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
    const project = await demo.project?.catch(() => undefined);
    if (project) {
      project.remove();
      say(`  removed the program folder and its state`);
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
    say("pulumi CLI: lab/install-pulumi.sh (uses the one on PATH, or builds the pinned one once: about 10 minutes)");
    say(`pulumi CLI: ${pulumiBinDir()}`);
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
