import { type ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { setTimeout as sleep } from "timers/promises";
import type { LabTlsFiles } from "./cluster";
import { inNamespace, LabCluster, isAlive, signalPid } from "./cluster";
import { type Launch, k3sLaunch, manifestKey, manifestLaunch, unitLaunch } from "./launch";
import {
  type MemberFiles,
  memberFiles,
  restartShellCommand,
  SUPERVISED_FORMATS,
  type SupervisedFormat,
  writeMemberFiles,
} from "./member-files";
import type { LabNetwork } from "./netns";

// What tests and the demo take from the supervisor, so that they import one module.
export { environmentFile, type Launch, manifestLaunch, splitWords, unitLaunch } from "./launch";
export { SUPERVISED_FORMATS, type SupervisedFormat } from "./member-files";

/**
 * A stand-in for systemd, the kubelet and k3s: it (re)starts each etcd member from exactly what its config file says,
 * read the way they would read it, so that a test of EtcdQuota fails when the provider writes an edit etcd would not see.
 *
 * Reading the files is in launch.ts, writing them in member-files.ts; this module runs the processes.
 */

export interface SupervisedClusterOptions {
  readonly format: SupervisedFormat;
  /** Number of members, m1, m2, ... (default 3). */
  readonly members?: number;
  /** `--quota-backend-bytes` (or its equivalent in the format) written into every member's file; unset: none. */
  readonly quotaBytes?: number;
  /** etcd version as the lab takes it (default `$ETCD_VERSION`, else the newest 3.7). */
  readonly version?: string;
  /** Serve https with this PKI and require client certificates, as LabCluster does; written into every format. */
  readonly tls?: LabTlsFiles;
  /** Run each member on its own host of this network (see LabClusterOptions.network). */
  readonly network?: LabNetwork;
  /** Receives progress lines (starts, stops, failures). */
  readonly log?: (line: string) => void;
}

/** One entry of EtcdQuota's `members` input for a supervised member. */
export interface QuotaMemberInput {
  readonly endpoint: string;
  readonly configFile: string;
  readonly format: SupervisedFormat;
  readonly restartCommand?: string;
}

const POLL_MS = 100;
/** A restart request is answered once the new process has lived this long (or has died: a failed start). */
const START_CHECK_MS = 1_000;
const TERM_GRACE_MS = 15_000;
const KILL_GRACE_MS = 5_000;
const READY_TIMEOUT_MS = 30_000;
/** An unknown flag: etcd refuses to start ("flag provided but not defined"), as with a broken edit. */
const BREAKING_FLAG = "--supervisor-broken-start";

interface RunningProcess {
  readonly launch: Launch;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly startedAt: number;
  exit?: { readonly code: number | null; readonly signal: NodeJS.Signals | null };
  /** Settles once the child's exit has been recorded. */
  readonly exited: Promise<void>;
}

interface SupervisedMember extends MemberFiles {
  readonly name: string;
  readonly clientUrl: string;
  /** Plain http, also for https members: readiness and leadership are read from its /metrics. */
  readonly metricsUrl: string;
  /** The lab network host's namespace the member runs in; unset on 127.0.0.1. */
  readonly namespace: string | undefined;
  process: RunningProcess | undefined;
  /** The last launch, kept after the process exits. */
  last: Launch | undefined;
  breakNext: boolean;
  /** Restarts of one member run one after the other. */
  queue: Promise<void>;
  /** kubeadm-manifest: the decoded manifest the running pod was made from, and a change waiting to settle. */
  seen?: string;
  pending?: string;
}

interface StartResult {
  readonly ok: boolean;
  readonly message: string;
}

// Members still running when this process exits are SIGKILLed, so a crashed test leaves no etcd behind. Installed at
// load, before any lab cluster exists, so it runs before the lab's own hook removes the folders.
const livePids = new Set<number>();
process.on("exit", () => {
  for (const pid of livePids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
});

/**
 * An etcd cluster whose members run under a supervisor that behaves like systemd (three formats) or the kubelet
 * (kubeadm static Pod manifest). The lab starts the cluster (ports, data dirs, initial cluster); then each member is
 * handed over: its config file is written, the lab's process stopped, and etcd started from the file.
 *
 * Restarts are answered by this process's event loop: run {@link restartCommand} asynchronously (as the provider's
 * host does), never with execSync from the same process.
 *
 * Simplifications: a restart always re-reads the unit (as after `systemctl daemon-reload`; a plain `systemctl
 * restart` would re-read only EnvironmentFile= files), and a member that dies is not restarted by itself
 * (`Restart=always` would retry every RestartSec=): it stays down until the next restart request or manifest change.
 */
export class SupervisedCluster {
  /**
   * The lab cluster the members came from: names, URLs, data dirs. Its processes were stopped at the handover, so
   * its pids are undefined and its stopMember/startMember/leader do not apply; use this class's methods.
   */
  readonly lab: LabCluster;
  readonly format: SupervisedFormat;
  /** `<lab dir>/supervised`: one folder per member. */
  readonly dir: string;
  private readonly members: SupervisedMember[];
  private readonly log: (line: string) => void;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private stopped = false;

  private constructor(lab: LabCluster, format: SupervisedFormat, log: (line: string) => void) {
    this.lab = lab;
    this.format = format;
    this.log = log;
    this.dir = path.join(lab.dir, "supervised");
    this.members = lab.members.map((m) => ({
      name: m.name,
      clientUrl: m.clientUrl,
      metricsUrl: m.metricsUrl,
      namespace: m.namespace,
      ...memberFiles(format, path.join(this.dir, m.name)),
      process: undefined,
      last: undefined,
      breakNext: false,
      queue: Promise.resolve(),
    }));
  }

  /** Starts a lab cluster, writes every member's files, and restarts every member from its file. */
  static async start(options: SupervisedClusterOptions): Promise<SupervisedCluster> {
    if (!SUPERVISED_FORMATS.includes(options.format)) throw new Error(`unknown format "${String(options.format)}"`);
    const log = options.log ?? (() => undefined);
    const lab = await LabCluster.start({
      members: options.members,
      quotaBytes: options.quotaBytes,
      version: options.version,
      tls: options.tls,
      network: options.network,
      log,
    });
    const cluster = new SupervisedCluster(lab, options.format, log);
    try {
      for (const member of cluster.members) {
        fs.mkdirSync(path.join(member.dir, "requests"), { recursive: true });
        fs.mkdirSync(path.join(member.dir, "acks"), { recursive: true });
        writeMemberFiles(lab, options.format, member, options.quotaBytes);
        // The manifest as written is what the first pod runs: only later changes restart the member.
        if (options.format === "kubeadm-manifest") {
          member.seen = manifestKey(fs.readFileSync(member.configFile, "utf8"));
        }
      }
      // Stops the lab's processes leader last (a leader stopped with its followers waits for them), keeping the data.
      await lab.stop({ removeDir: false });
      const results = await Promise.all(cluster.members.map((m) => cluster.startFromFile(m, "handover")));
      const failed = results.flatMap((r, i) => (r.ok ? [] : [`${cluster.members[i].name}: ${r.message}`]));
      if (failed.length > 0) throw new Error(`members did not start from their files:\n${failed.join("\n")}`);
      await cluster.waitReady(cluster.members);
      cluster.timer = setInterval(() => void cluster.tick(), POLL_MS);
      cluster.timer.unref();
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** The client URLs, in member order. */
  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  /**
   * The file EtcdQuota is pointed at: the unit (systemd-unit), the env file (env-file), the YAML config
   * (etcd-config), the static Pod manifest (kubeadm-manifest).
   */
  configFile(name: string): string {
    return this.member(name).configFile;
  }

  /** The systemd unit the member runs under (also for env-file and etcd-config); undefined for kubeadm-manifest. */
  unitFile(name: string): string | undefined {
    return this.member(name).unitFile;
  }

  /** `<dir>/<name>/supervisor.log`: every start (binary, args, env), stop and failure. */
  supervisorLog(name: string): string {
    return path.join(this.member(name).dir, "supervisor.log");
  }

  /** `<dir>/<name>/etcd.log`: what the member's etcd processes printed. */
  etcdLog(name: string): string {
    return path.join(this.member(name).dir, "etcd.log");
  }

  /**
   * The shell command that restarts the member, the equivalent of `systemctl daemon-reload && systemctl restart
   * etcd`: it files a request, waits (at most ~60 s) until the supervisor has stopped the old process and started a
   * new one from the files, and exits 1 with a message when the new process died at once (a failed unit). It does
   * not wait until the member is healthy. Empty for kubeadm-manifest: like the kubelet, the supervisor restarts the
   * member by itself when the manifest changes.
   */
  restartCommand(name: string): string {
    const member = this.member(name);
    return this.format === "kubeadm-manifest" ? "" : restartShellCommand(member.dir);
  }

  /**
   * Every member as EtcdQuota's `members` input takes it. No restart command for kubeadm-manifest: the kubelet
   * stand-in restarts a member by itself when its manifest changes.
   */
  quotaMembers(): QuotaMemberInput[] {
    return this.members.map((m) => ({
      endpoint: m.clientUrl,
      configFile: m.configFile,
      format: this.format,
      ...(this.format === "kubeadm-manifest" ? {} : { restartCommand: this.restartCommand(m.name) }),
    }));
  }

  /** The pid of the member's etcd, undefined when it is not running. */
  pid(name: string): number | undefined {
    const process = this.member(name).process;
    return process && !process.exit && isAlive(process.pid) ? process.pid : undefined;
  }

  /** The arguments (after the binary) the member's current (or last) etcd was started with. */
  processArgs(name: string): string[] {
    return [...this.launched(name).args];
  }

  /** The whole environment the member's current (or last) etcd was started with. */
  processEnv(name: string): Record<string, string> {
    return { ...this.launched(name).env };
  }

  /** The binary the member's current (or last) etcd was started as. */
  processBinary(name: string): string {
    return this.launched(name).binary;
  }

  /** Stops the member by pid, as `systemctl stop` would; it stays down until its restart command runs. */
  async stopMember(name: string): Promise<void> {
    await this.stopProcess(this.member(name), "stopped by the test");
  }

  /** Test hook: the next start of that member fails at once (etcd is given an unknown flag). */
  breakNextStart(name: string): void {
    this.member(name).breakNext = true;
  }

  /** The member the running members report as leader, if any. */
  async leader(): Promise<string | undefined> {
    const running = this.members.filter((m) => this.pid(m.name) !== undefined);
    const isLeader = await Promise.all(running.map((m) => gauge(m.metricsUrl, "etcd_server_is_leader")));
    const index = isLeader.findIndex((value) => value === 1);
    return index < 0 ? undefined : running[index].name;
  }

  /**
   * The members in the order EtcdQuota restarts them, as the tests expect it independently of the provider: the
   * followers by name, then the leader.
   */
  async rollingOrder(): Promise<string[]> {
    const leader = await this.leader();
    const followers = this.members.map((m) => m.name).filter((name) => name !== leader);
    return [...followers.sort(), ...(leader === undefined ? [] : [leader])];
  }

  /** Stops every member by pid (followers first, leader last) and removes the lab's folder; safe to call twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    // A restart under way finishes first, so that it does not start a process after this.
    await Promise.all(this.members.map((m) => m.queue));
    const leader = await this.leader();
    await Promise.all(this.members.filter((m) => m.name !== leader).map((m) => this.stopProcess(m, "stop")));
    const last = this.members.find((m) => m.name === leader);
    if (last) await this.stopProcess(last, "stop");
    await this.lab.stop();
  }

  private member(name: string): SupervisedMember {
    const member = this.members.find((m) => m.name === name);
    if (!member) throw new Error(`no member "${name}" (have ${this.members.map((m) => m.name).join(", ")})`);
    return member;
  }

  private launched(name: string): Launch {
    const launch = this.member(name).last;
    if (!launch) throw new Error(`member ${name} has not been started by the supervisor`);
    return launch;
  }

  /** What the member's files say to run, read the way systemd or the kubelet would. */
  private readLaunch(member: SupervisedMember): Launch {
    if (this.format === "kubeadm-manifest") {
      return manifestLaunch(fs.readFileSync(member.configFile, "utf8"), member.configFile, this.lab.etcd);
    }
    if (this.format === "k3s-config") {
      // What k3s itself sets up for its etcd (names, URLs, TLS, data dir): the lab's flags but those config.yaml holds.
      const own = this.lab
        .member(member.name)
        .args.filter((arg) => !/^--(?:quota-backend-bytes|snapshot-count)=/.test(arg));
      return k3sLaunch(fs.readFileSync(member.configFile, "utf8"), member.configFile, this.lab.etcd, own);
    }
    return unitLaunch(fs.readFileSync(member.unitFile!, "utf8"), member.unitFile!);
  }

  /** Stops the member's process if any, then starts one from its files; reports a start that failed at once. */
  private async restart(member: SupervisedMember, reason: string): Promise<StartResult> {
    await this.stopProcess(member, reason);
    return this.startFromFile(member, reason);
  }

  private async startFromFile(member: SupervisedMember, reason: string): Promise<StartResult> {
    let launch: Launch;
    try {
      launch = this.readLaunch(member);
    } catch (err) {
      const message = `cannot start ${member.name} from its files: ${(err as Error).message}`;
      this.note(member, `${reason}: ${message}`);
      return { ok: false, message };
    }
    if (member.breakNext) {
      member.breakNext = false;
      launch = { ...launch, args: [...launch.args, BREAKING_FLAG] };
      this.note(member, `${reason}: breakNextStart: adding ${BREAKING_FLAG}`);
    }
    member.last = launch;
    const out = fs.openSync(this.etcdLog(member.name), "a");
    let child: ChildProcess;
    try {
      const [binary, ...args] = inNamespace(member.namespace, [launch.binary, ...launch.args]);
      child = spawn(binary, args, {
        cwd: launch.cwd,
        env: { ...launch.env },
        stdio: ["ignore", out, out],
      });
    } finally {
      fs.closeSync(out);
    }
    const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
    const started = Date.now();
    this.note(
      member,
      `${reason}: start ${JSON.stringify([launch.binary, ...launch.args])} env ${JSON.stringify(launch.env)} ` +
        `cwd ${launch.cwd} -> pid ${child.pid ?? "none"}`,
    );
    if (child.pid === undefined) {
      const message = `cannot run ${launch.binary}: ${(await spawnError).message}`;
      this.note(member, message);
      return { ok: false, message };
    }
    const pid = child.pid;
    const running: RunningProcess = {
      launch,
      child,
      pid,
      startedAt: started,
      exited: new Promise<void>((resolve) =>
        child.once("exit", (code, signal) => {
          running.exit = { code, signal };
          livePids.delete(pid);
          this.note(member, `pid ${pid} exited (${signal ?? `code ${code}`}) after ${Date.now() - started} ms`);
          resolve();
        }),
      ),
    };
    member.process = running;
    livePids.add(pid);
    child.unref();
    await Promise.race([running.exited, sleep(START_CHECK_MS)]);
    if (running.exit) {
      const how = running.exit.signal ?? `code ${running.exit.code}`;
      const message =
        `etcd member ${member.name} failed to start: the process exited (${how}) at once; ` +
        `its log ends with:\n${tail(this.etcdLog(member.name), 6)}`;
      return { ok: false, message };
    }
    return { ok: true, message: `${member.name} restarted: pid ${running.pid}` };
  }

  /** SIGTERM by pid, wait for the exit (15 s), then SIGKILL. */
  private async stopProcess(member: SupervisedMember, reason: string): Promise<void> {
    const running = member.process;
    if (!running) return;
    if (!running.exit && isAlive(running.pid)) {
      const began = Date.now();
      signalPid(running.pid, "SIGTERM");
      if (!(await waitForExit(running, TERM_GRACE_MS))) {
        this.note(member, `${reason}: pid ${running.pid} ignored SIGTERM for ${TERM_GRACE_MS} ms; SIGKILL`);
        signalPid(running.pid, "SIGKILL");
        if (!(await waitForExit(running, KILL_GRACE_MS))) {
          throw new Error(`member ${member.name} (pid ${running.pid}) did not exit after SIGKILL`);
        }
      }
      // The exit event follows the process's end closely; waiting for it keeps the log in order.
      await Promise.race([running.exited, sleep(1_000)]);
      this.note(member, `${reason}: stopped pid ${running.pid} in ${Date.now() - began} ms`);
    }
    livePids.delete(running.pid);
    member.process = undefined;
  }

  private async waitReady(members: readonly SupervisedMember[]): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    const pending = new Set(members);
    while (pending.size > 0) {
      for (const member of [...pending]) {
        if (this.pid(member.name) === undefined) {
          throw new Error(
            `${member.name} exited while starting; its log ends with:\n${tail(this.etcdLog(member.name))}`,
          );
        }
        if ((await gauge(member.metricsUrl, "etcd_server_has_leader")) === 1) pending.delete(member);
      }
      if (pending.size === 0) return;
      if (Date.now() >= deadline) {
        throw new Error(`members ${[...pending].map((m) => m.name).join(", ")} not ready after ${READY_TIMEOUT_MS} ms`);
      }
      await sleep(POLL_MS);
    }
  }

  /** One round of supervision: restart requests, and (kubeadm-manifest) manifests that changed. */
  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      for (const member of this.members) {
        if (this.format === "kubeadm-manifest") this.watchManifest(member);
        else this.takeRequests(member);
      }
    } catch (err) {
      this.log(`supervisor: ${(err as Error).message}`);
    } finally {
      this.ticking = false;
    }
  }

  private takeRequests(member: SupervisedMember): void {
    const requests = path.join(member.dir, "requests");
    for (const id of fs.readdirSync(requests).sort()) {
      fs.rmSync(path.join(requests, id), { force: true });
      this.enqueue(member, `restart request ${id}`, (result) => {
        const ack = path.join(member.dir, "acks", id);
        fs.writeFileSync(`${ack}.tmp`, `${result.ok ? "ok" : "failed"}\n${result.message}\n`);
        fs.renameSync(`${ack}.tmp`, ack);
      });
    }
  }

  /** Like the kubelet: a manifest whose decoded content changed (and then stayed the same for a poll) is applied. */
  private watchManifest(member: SupervisedMember): void {
    let key: string;
    try {
      key = manifestKey(fs.readFileSync(member.configFile, "utf8"));
    } catch (err) {
      // Missing (mid-rename): the next poll sees the new file.
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    if (key === member.seen) {
      member.pending = undefined;
      return;
    }
    if (key !== member.pending) {
      member.pending = key;
      return;
    }
    member.seen = key;
    member.pending = undefined;
    this.enqueue(member, "manifest changed", () => undefined);
  }

  private enqueue(member: SupervisedMember, reason: string, done: (result: StartResult) => void): void {
    member.queue = member.queue.then(async () => {
      let result: StartResult;
      try {
        result = this.stopped
          ? { ok: false, message: "the supervisor is stopping" }
          : await this.restart(member, reason);
      } catch (err) {
        result = { ok: false, message: (err as Error).message };
      }
      if (!result.ok) this.log(`${member.name}: ${result.message}`);
      try {
        done(result);
      } catch (err) {
        this.log(`${member.name}: cannot answer ${reason}: ${(err as Error).message}`);
      }
    });
  }

  private note(member: SupervisedMember, line: string): void {
    fs.appendFileSync(path.join(member.dir, "supervisor.log"), `${new Date().toISOString()} ${line}\n`);
    this.log(`${member.name}: ${line}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

async function waitForExit(running: RunningProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!running.exit && isAlive(running.pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

function tail(file: string, lines = 12): string {
  try {
    const text = fs.readFileSync(file, "utf8");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return `(no log at ${file})`;
  }
}

/**
 * A gauge from a member's /metrics, on its plain-http client URL or its metrics URL. Not Status through the JSON
 * gateway: etcd 3.4 started with --config-file has no gateway unless the file says `enable-grpc-gateway: true`;
 * /metrics is always served. `timeoutMs` is short for the polls that wait for readiness; a test reading a value
 * over a slow, lossy link gives it longer (the page is about 100 KB).
 */
export async function gauge(url: string, name: string, timeoutMs = 1_000): Promise<number | undefined> {
  try {
    const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return undefined;
    const match = new RegExp(`^${name}\\s+(\\S+)$`, "m").exec(await response.text());
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}
