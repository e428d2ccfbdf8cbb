import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";
import { ClusterSession } from "../provider/etcd/cluster";
import type { ClusterObservation } from "../provider/types/observation";
import { formatSize, parseSize } from "../provider/values/size";
import { LabCluster } from "./cluster";
import { REPO_ROOT } from "./etcd-binary";
import { fill } from "./fill";
import { statusTable } from "./status-table";

const STATE_DIR = path.join(REPO_ROOT, ".cache", "lab");
const STATE_FILE = path.join(STATE_DIR, "cluster.json");

const USAGE = `Local etcd clusters on 127.0.0.1 that keep running between commands.

usage: npm run lab -- <command> [options]

  up      start a cluster and leave it running
            --members N        1 or 3 (default 3)
            --quota SIZE       --quota-backend-bytes, e.g. 600MiB, 8Gi, 8GB (default: etcd's 2 GiB)
            --version V        etcd 3.4 (default, /usr/bin) or 3.5.16 / 3.5.30 (bash lab/install-etcd.sh V)
  status  per member: endpoint, ID, version, DB size, leader, raft, quota, usage, free, alarms; pids
  fill    write history until the DB reaches a size or etcd runs out of space
            --bytes SIZE       target DB size (default 200MiB)
            --until-nospace    write until "database space exceeded" (raises the NOSPACE alarm)
  down    stop the members and delete their data

State: ${path.relative(process.cwd(), STATE_FILE) || STATE_FILE}`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case "up":
      return up(args);
    case "down":
      return down(args);
    case "status":
      return status(args);
    case "fill":
      return fillCommand(args);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return 0;
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

async function up(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { members: { type: "string", default: "3" }, quota: { type: "string" }, version: { type: "string" } },
  });
  const members = Number(values.members);
  const quotaBytes = values.quota === undefined ? undefined : parseSize(values.quota, "--quota");
  const previous = recorded();
  if (previous) {
    const running = previous.members.filter((m) => previous.isRunning(m.name));
    if (running.length > 0) {
      console.error(
        `a lab cluster is already running (${previous.endpoints.join(",")}); run \`npm run lab -- down\` first`,
      );
      return 1;
    }
    // Its processes are gone (a reboot, a kill): only the files are left.
    await previous.stop({ removeDir: true });
    fs.rmSync(STATE_FILE, { force: true });
  }
  fs.mkdirSync(STATE_DIR, { recursive: true });
  const dir = fs.mkdtempSync(path.join(STATE_DIR, "cluster-"));
  let cluster: LabCluster;
  try {
    cluster = await LabCluster.start({ members, quotaBytes, version: values.version, dir, detached: true });
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  fs.writeFileSync(STATE_FILE, `${JSON.stringify(cluster, null, 2)}\n`);
  const quota = quotaBytes === undefined ? "etcd's default quota" : `quota ${formatSize(quotaBytes)}`;
  console.log(`etcd ${cluster.version}, ${cluster.members.length} member(s), ${quota}, data in ${cluster.dir}`);
  for (const m of cluster.members) {
    console.log(
      `  ${m.name}  ${m.clientUrl}  pid ${m.pid}  metrics ${m.metricsUrl}  log ${path.join(cluster.dir, `${m.name}.log`)}`,
    );
  }
  const endpoints = cluster.endpoints.join(",");
  console.log(`endpoints: ${endpoints}`);
  console.log(
    `try:       ${path.join(path.dirname(cluster.etcd), "etcdctl")} --endpoints=${endpoints} endpoint status -w table`,
  );
  console.log(`stop with: npm run lab -- down`);
  return 0;
}

async function down(args: readonly string[]): Promise<number> {
  parseArgs({ args: [...args], options: {} });
  const cluster = recorded();
  if (!cluster) {
    console.log(`no lab cluster recorded in ${STATE_FILE}`);
    return 0;
  }
  const pids = cluster.members.map((m) => `${m.name} pid ${m.pid}`).join(", ");
  await cluster.stop({ removeDir: true });
  fs.rmSync(STATE_FILE, { force: true });
  console.log(`stopped ${pids}; removed ${cluster.dir}`);
  return 0;
}

async function status(args: readonly string[]): Promise<number> {
  parseArgs({ args: [...args], options: {} });
  const cluster = requireRecorded();
  const session = new ClusterSession({ endpoints: cluster.endpoints });
  let observation: ClusterObservation;
  try {
    observation = await session.observe();
  } finally {
    session.close();
  }
  console.log(statusTable(observation));
  const running = cluster.members.map((m) => cluster.isRunning(m.name));
  console.log(
    cluster.members
      .map((m, i) => `${m.name} ${m.clientUrl} pid ${m.pid ?? "-"} ${running[i] ? "running" : "not running"}`)
      .join("\n"),
  );
  return running.every(Boolean) && observation.unreachable.length === 0 ? 0 : 1;
}

async function fillCommand(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { bytes: { type: "string" }, "until-nospace": { type: "boolean", default: false } },
  });
  if (values.bytes !== undefined && values["until-nospace"]) {
    console.error("give either --bytes or --until-nospace, not both");
    return 2;
  }
  const cluster = requireRecorded();
  const endpoints = cluster.members.filter((m) => cluster.isRunning(m.name)).map((m) => m.clientUrl);
  if (endpoints.length === 0) throw new Error("no member of the lab cluster is running");
  const started = Date.now();
  const result = values["until-nospace"]
    ? await fill(endpoints, { untilNoSpace: true })
    : await fill(endpoints, { targetBytes: parseSize(values.bytes ?? "200MiB", "--bytes") });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `${result.keysWritten} puts over ${result.lastValues.size} keys in ${seconds} s; largest DB now ${formatSize(result.bytes)}`,
  );
  if (result.noSpace) console.log("etcd answered 'database space exceeded': the NOSPACE alarm is raised");
  return 0;
}

function recorded(): LabCluster | undefined {
  return fs.existsSync(STATE_FILE) ? LabCluster.attach(STATE_FILE) : undefined;
}

function requireRecorded(): LabCluster {
  const cluster = recorded();
  if (!cluster) throw new Error(`no lab cluster is running; start one with \`npm run lab -- up\``);
  return cluster;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`lab: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
