import { type ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { inNamespace, LabCluster, LabTlsFiles, isAlive } from "./cluster";
import type { LabNetwork } from "./netns";

/**
 * A stand-in for systemd, the kubelet and k3s: it (re)starts each etcd member from exactly what its config file says,
 * read the way they would read it, so that a test of EtcdQuota fails when the provider writes an edit etcd would not see.
 *
 * The parsing here is deliberately independent of provider/config: it is a second reading of the same files.
 */

export type SupervisedFormat = "systemd-unit" | "env-file" | "etcd-config" | "kubeadm-manifest" | "k3s-config";

export const SUPERVISED_FORMATS: readonly SupervisedFormat[] = [
  "systemd-unit",
  "env-file",
  "etcd-config",
  "kubeadm-manifest",
  "k3s-config",
];

export interface SupervisedClusterOptions {
  readonly format: SupervisedFormat;
  /** Number of members, m1, m2, ... (default 3). */
  readonly members?: number;
  /** `--quota-backend-bytes` (or its equivalent in the format) written into every member's file; unset: none. */
  readonly quotaBytes?: number;
  /** etcd version as the lab takes it (default `$ETCD_VERSION`, else the newest 3.6). */
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

/** What one start of a member ran: the binary, its arguments, its whole environment and its working directory. */
export interface Launch {
  readonly binary: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
}

/** The PATH systemd gives system services; a service inherits nothing else from whoever ran systemctl. */
const SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** The PATH of a container (the etcd image sets no other). */
const CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const POLL_MS = 100;
/** A restart request is answered once the new process has lived this long (or has died: a failed start). */
const START_CHECK_MS = 1_000;
const TERM_GRACE_MS = 15_000;
const KILL_GRACE_MS = 5_000;
const READY_TIMEOUT_MS = 30_000;
/** How long the restart command waits for the supervisor's answer (tenths of a second). */
const RESTART_COMMAND_TENTHS = 600;
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

interface SupervisedMember {
  readonly name: string;
  readonly clientUrl: string;
  /** Plain http, also for https members: readiness and leadership are read from its /metrics. */
  readonly metricsUrl: string;
  /** The lab network host's namespace the member runs in; unset on 127.0.0.1. */
  readonly namespace: string | undefined;
  /** `<dir>/<name>`: config files, the control folders, etcd.log and supervisor.log. */
  readonly dir: string;
  readonly configFile: string;
  /** The systemd unit, for the three formats systemd runs. */
  readonly unitFile: string | undefined;
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
    this.members = lab.members.map((m) => {
      const dir = path.join(this.dir, m.name);
      // k3s runs etcd inside its own process, from config.yaml; its unit only says `k3s server`.
      const unitFile =
        format === "kubeadm-manifest" || format === "k3s-config" ? undefined : path.join(dir, "etcd.service");
      const configFile = {
        "systemd-unit": path.join(dir, "etcd.service"),
        "env-file": path.join(dir, "etcd.env"),
        "etcd-config": path.join(dir, "etcd.conf.yml"),
        "kubeadm-manifest": path.join(dir, "etcd.yaml"),
        "k3s-config": path.join(dir, "rancher", "k3s", "config.yaml"),
      }[format];
      return {
        name: m.name,
        clientUrl: m.clientUrl,
        metricsUrl: m.metricsUrl,
        namespace: m.namespace,
        dir,
        configFile,
        unitFile,
        process: undefined,
        last: undefined,
        breakNext: false,
        queue: Promise.resolve(),
      };
    });
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
        cluster.writeFiles(member, options.quotaBytes);
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
    if (this.format === "kubeadm-manifest") return "";
    return `/bin/sh ${shellQuote(path.join(member.dir, "restart.sh"))}`;
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

  private writeFiles(member: SupervisedMember, quotaBytes: number | undefined): void {
    const lab = this.lab.member(member.name);
    // The lab's flags, all `--key=value`, in its order; the quota and the snapshot count are placed per format.
    const settings = lab.args.map((arg) => {
      const match = /^--([^=]+)=(.*)$/s.exec(arg);
      if (!match) throw new Error(`unexpected lab argument ${arg}`);
      return [match[1], match[2]] as const;
    });
    const get = (key: string) => settings.find(([k]) => k === key)?.[1] ?? "";
    const flags = (omit: readonly string[]) =>
      settings.filter(([k]) => !omit.includes(k) && k !== "quota-backend-bytes").map(([k, v]) => `--${k}=${v}`);
    const quotaFlag = quotaBytes === undefined ? [] : [`--quota-backend-bytes=${quotaBytes}`];
    const write = (file: string, text: string) => fs.writeFileSync(file, text);

    switch (this.format) {
      case "systemd-unit":
        write(member.configFile, unit(member.name, continued(this.lab.etcd, [...flags([]), ...quotaFlag])));
        break;
      case "env-file": {
        // etcd refuses to start when a setting is both a flag and an ETCD_* variable: these live in the env file only.
        const execStart = continued(this.lab.etcd, flags(["snapshot-count"]));
        write(member.unitFile!, unit(member.name, execStart, member.configFile));
        const lines = [
          `# etcd settings for ${member.name}; systemd reads this file at every start.`,
          `ETCD_SNAPSHOT_COUNT=${get("snapshot-count")}`,
          ...(quotaBytes === undefined ? [] : [`ETCD_QUOTA_BACKEND_BYTES=${quotaBytes}`]),
        ];
        write(member.configFile, `${lines.join("\n")}\n`);
        break;
      }
      case "etcd-config": {
        const keys = [
          "name",
          "data-dir",
          "listen-client-urls",
          "advertise-client-urls",
          "listen-peer-urls",
          "initial-advertise-peer-urls",
          "listen-metrics-urls",
          "initial-cluster-token",
          "initial-cluster-state",
          "snapshot-count",
          "logger",
        ];
        const lines = [
          `# This is the configuration file for the etcd server ${member.name}.`,
          ...keys.map((key) => `${key}: ${get(key)}`),
          `initial-cluster: "${get("initial-cluster")}"`,
          "log-outputs: [stderr]",
          "",
          "# Raise alarms when backend size exceeds the given quota. 0 means use the default quota.",
          `quota-backend-bytes: ${quotaBytes ?? 0}`,
          ...transportSecurity("client", (key) => get(key)),
          ...transportSecurity("peer", (key) => get(`peer-${key}`)),
        ];
        write(member.configFile, `${lines.join("\n")}\n`);
        write(member.unitFile!, unit(member.name, `${this.lab.etcd} --config-file ${member.configFile}`));
        break;
      }
      case "kubeadm-manifest":
        write(
          member.configFile,
          manifest(member.name, this.lab.version, lab.clientUrl, lab.metricsUrl, lab.dataDir, [
            ...flags([]),
            ...kubeadmFlags(this.lab.version),
            ...quotaFlag,
          ]),
        );
        break;
      case "k3s-config": {
        fs.mkdirSync(path.dirname(member.configFile), { recursive: true });
        const lines = [
          `# k3s server settings for ${member.name}; k3s hands each etcd-arg to its embedded etcd.`,
          'write-kubeconfig-mode: "0644"',
          "cluster-init: true",
          "etcd-expose-metrics: true",
          "etcd-arg:",
          `  - "snapshot-count=${get("snapshot-count")}"`,
          ...(quotaBytes === undefined ? [] : [`  - "quota-backend-bytes=${quotaBytes}"`]),
          "disable:",
          "  - traefik",
        ];
        write(member.configFile, `${lines.join("\n")}\n`);
        break;
      }
    }
    if (this.format !== "kubeadm-manifest") {
      write(path.join(member.dir, "restart.sh"), restartScript(member.name, member.dir));
    }
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
      signal(running.pid, "SIGTERM");
      if (!(await waitForExit(running, TERM_GRACE_MS))) {
        this.note(member, `${reason}: pid ${running.pid} ignored SIGTERM for ${TERM_GRACE_MS} ms; SIGKILL`);
        signal(running.pid, "SIGKILL");
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
// Writing the files

/** `binary \` then one flag a line, as kubespray and runbook units write it. */
/** etcd's config file nests the TLS flags: `--peer-cert-file` is `peer-transport-security: cert-file:`. */
function transportSecurity(side: "client" | "peer", flag: (key: string) => string): string[] {
  const keys = ["cert-file", "key-file", "trusted-ca-file", "client-cert-auth"];
  if (flag("cert-file") === "") return [];
  return [
    `${side}-transport-security:`,
    ...keys.filter((key) => flag(key) !== "").map((key) => `  ${key}: ${flag(key)}`),
  ];
}

function continued(binary: string, flags: readonly string[]): string {
  return [binary, ...flags.map((f) => `  ${f}`)].join(" \\\n");
}

function unit(name: string, execStart: string, environmentFile?: string): string {
  return [
    "[Unit]",
    `Description=etcd member ${name} (supervised test member)`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=notify",
    ...(environmentFile ? [`EnvironmentFile=${environmentFile}`] : []),
    `ExecStart=${execStart}`,
    "Restart=always",
    "RestartSec=10s",
    "LimitNOFILE=40000",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/**
 * The flags kubeadm adds for the etcd it deploys, so that the lab's manifests run what clusters run: for etcd 3.6
 * (Kubernetes 1.34+) the feature gate and the watch flag that replaced the `--experimental-*` ones, which 3.6
 * deprecates and 3.7 removes; before 3.6 the experimental flags.
 */
export function kubeadmFlags(version: string): string[] {
  const [major, minor] = version.split(".").map(Number);
  return major > 3 || (major === 3 && minor >= 6)
    ? ["--feature-gates=InitialCorruptCheck=true", "--watch-progress-notify-interval=5s"]
    : ["--experimental-initial-corrupt-check=true", "--experimental-watch-progress-notify-interval=5s"];
}

function manifest(
  name: string,
  version: string,
  clientUrl: string,
  metricsUrl: string,
  dataDir: string,
  flags: readonly string[],
): string {
  const byName = (flag: string) => flag.replace(/^--/, "").split("=")[0];
  const sorted = [...flags].sort((a, b) => (byName(a) < byName(b) ? -1 : byName(a) > byName(b) ? 1 : 0));
  const port = new URL(metricsUrl).port;
  const probe = (probePath: string, extra: string[]) => [
    ...extra,
    "      httpGet:",
    "        host: 127.0.0.1",
    `        path: ${probePath}`,
    `        port: ${port}`,
    "        scheme: HTTP",
  ];
  return [
    "apiVersion: v1",
    "kind: Pod",
    "metadata:",
    "  annotations:",
    `    kubeadm.kubernetes.io/etcd.advertise-client-urls: ${clientUrl}`,
    "  creationTimestamp: null",
    "  labels:",
    "    component: etcd",
    "    tier: control-plane",
    `  name: etcd-${name}`,
    "  namespace: kube-system",
    "spec:",
    "  containers:",
    "  - command:",
    "    - etcd",
    ...sorted.map((flag) => `    - ${flag}`),
    `    image: registry.k8s.io/etcd:${version}-0`,
    "    imagePullPolicy: IfNotPresent",
    "    livenessProbe:",
    ...probe("/livez", ["      failureThreshold: 8"]),
    "      initialDelaySeconds: 10",
    "      periodSeconds: 10",
    "      timeoutSeconds: 15",
    "    name: etcd",
    "    readinessProbe:",
    ...probe("/readyz", ["      failureThreshold: 3"]),
    "      periodSeconds: 1",
    "      timeoutSeconds: 15",
    "    resources:",
    "      requests:",
    "        cpu: 100m",
    "        memory: 100Mi",
    "    startupProbe:",
    ...probe("/readyz", ["      failureThreshold: 24"]),
    "      initialDelaySeconds: 10",
    "      periodSeconds: 10",
    "      timeoutSeconds: 15",
    "    volumeMounts:",
    `    - mountPath: ${dataDir}`,
    "      name: etcd-data",
    "  hostNetwork: true",
    "  priority: 2000001000",
    "  priorityClassName: system-node-critical",
    "  securityContext:",
    "    seccompProfile:",
    "      type: RuntimeDefault",
    "  volumes:",
    "  - hostPath:",
    `      path: ${dataDir}`,
    "      type: DirectoryOrCreate",
    "    name: etcd-data",
    "status: {}",
    "",
  ].join("\n");
}

/** Files a request, then waits for the supervisor's answer: `ok` or `failed` on the first line, a message after. */
function restartScript(name: string, dir: string): string {
  return [
    "#!/bin/sh",
    `# Restarts etcd member ${name} through the test supervisor (the stand-in for systemctl restart).`,
    `dir=${shellQuote(dir)}`,
    'id="$(date +%s%N).$$"',
    ': > "$dir/requests/$id"',
    "i=0",
    `while [ "$i" -lt ${RESTART_COMMAND_TENTHS} ]; do`,
    '  if [ -f "$dir/acks/$id" ]; then',
    '    status="$(head -n 1 "$dir/acks/$id")"',
    '    if [ "$status" = ok ]; then tail -n +2 "$dir/acks/$id"; else tail -n +2 "$dir/acks/$id" >&2; fi',
    '    rm -f "$dir/acks/$id"',
    '    [ "$status" = ok ] && exit 0',
    "    exit 1",
    "  fi",
    "  sleep 0.1",
    "  i=$((i + 1))",
    "done",
    'rm -f "$dir/requests/$id"',
    `echo "restart of ${name}: no answer from the supervisor after ${RESTART_COMMAND_TENTHS / 10} s" >&2`,
    "exit 1",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the files as systemd and the kubelet do

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A unit's `Key=value` directives, after joining continued lines (systemd.syntax(7)). */
export function unitDirectives(text: string): { section: string; key: string; value: string }[] {
  const logical: string[] = [];
  let current: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    // Comment lines are dropped, also between the lines of a continued directive.
    if (/^[ \t]*[#;]/.test(raw)) continue;
    const continued = raw.endsWith("\\");
    current = (current ?? "") + (continued ? `${raw.slice(0, -1)} ` : raw);
    if (!continued) {
      logical.push(current);
      current = undefined;
    }
  }
  if (current !== undefined) logical.push(current);
  const result: { section: string; key: string; value: string }[] = [];
  let section = "";
  for (const line of logical) {
    const trimmed = line.trim();
    if (trimmed.startsWith("[") && trimmed.endsWith("]")) {
      section = trimmed.slice(1, -1);
      continue;
    }
    const equals = trimmed.indexOf("=");
    if (equals <= 0) continue;
    result.push({ section, key: trimmed.slice(0, equals).trim(), value: trimmed.slice(equals + 1).trim() });
  }
  return result;
}

/** Splits a command line or an `Environment=` value into words: whitespace, "double" and 'single' quotes, escapes. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  const escape = (c: string) => ({ n: "\n", t: "\t", r: "\r" })[c] ?? c;
  let i = 0;
  for (;;) {
    while (i < text.length && /\s/.test(text[i])) i++;
    if (i >= text.length) return words;
    let word = "";
    while (i < text.length && !/\s/.test(text[i])) {
      const c = text[i];
      if (c === '"' || c === "'") {
        i++;
        while (i < text.length && text[i] !== c) {
          if (text[i] === "\\" && i + 1 < text.length) {
            word += escape(text[i + 1]);
            i += 2;
          } else {
            word += text[i++];
          }
        }
        if (i >= text.length) throw new Error(`unbalanced quotes in ${text}`);
        i++;
      } else if (c === "\\" && i + 1 < text.length) {
        word += escape(text[i + 1]);
        i += 2;
      } else {
        word += c;
        i++;
      }
    }
    words.push(word);
  }
}

/** `KEY=VALUE` lines as systemd's `EnvironmentFile=` reads them; invalid lines are ignored (systemd logs them). */
export function environmentFile(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const equals = line.indexOf("=");
    if (equals < 0) continue;
    const key = line.slice(0, equals).trim();
    if (!NAME.test(key)) continue;
    let value = line.slice(equals + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1).replace(/\\(.)/g, "$1");
    } else if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) {
      value = value.slice(1, -1);
    } else {
      value = value.replace(/\\(.)/g, "$1");
    }
    result[key] = value;
  }
  return result;
}

/**
 * What systemd would run for the unit's `[Service]`: the one ExecStart= (prefixes `-+!:` dropped), split into words,
 * with `$VAR` (a word of its own: split on whitespace) and `${VAR}` (inline) expanded; the environment is systemd's
 * PATH, then `Environment=` assignments, then `EnvironmentFile=` files, which override them.
 */
export function unitLaunch(text: string, file: string, readFile = (f: string) => fs.readFileSync(f, "utf8")): Launch {
  let execStart: string | undefined;
  let assignments: Record<string, string> = {};
  let files: string[] = [];
  let cwd = "/";
  for (const { section, key, value } of unitDirectives(text)) {
    if (section !== "Service") continue;
    if (key === "ExecStart") {
      if (value === "") execStart = undefined;
      else if (execStart !== undefined) {
        throw new Error(`${file}: more than one ExecStart=, which only Type=oneshot services may have`);
      } else execStart = value;
    } else if (key === "Environment") {
      if (value === "") assignments = {};
      for (const word of splitWords(value)) {
        const equals = word.indexOf("=");
        if (equals > 0 && NAME.test(word.slice(0, equals))) assignments[word.slice(0, equals)] = word.slice(equals + 1);
      }
    } else if (key === "EnvironmentFile") {
      files = value === "" ? [] : [...files, value];
    } else if (key === "WorkingDirectory") {
      cwd = value.replace(/^-/, "");
    }
  }
  if (execStart === undefined) throw new Error(`${file}: the [Service] section has no ExecStart=`);
  const fromFiles: Record<string, string> = {};
  for (const entry of files) {
    const optional = entry.startsWith("-");
    const envPath = optional ? entry.slice(1) : entry;
    let content: string;
    try {
      content = readFile(envPath);
    } catch (err) {
      if (optional) continue;
      throw new Error(`${file}: failed to load environment file ${envPath}: ${(err as Error).message}`);
    }
    Object.assign(fromFiles, environmentFile(content));
  }
  const env: Record<string, string> = { PATH: SYSTEMD_PATH, ...assignments, ...fromFiles };
  const command = execStart.replace(/^[-+!:]+/, "");
  if (command.startsWith("@")) throw new Error(`${file}: ExecStart=@ is not supported here`);
  const words = splitWords(command).flatMap((word) => {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (whole) return (env[whole[1]] ?? "").split(/\s+/).filter((w) => w !== "");
    return [word.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, n?: string) => (n ? (env[n] ?? "") : "$"))];
  });
  if (words.length === 0) throw new Error(`${file}: ExecStart= is empty`);
  return { binary: words[0], args: words.slice(1), env, cwd };
}

interface ContainerSpec {
  readonly name?: unknown;
  readonly command?: unknown;
  readonly args?: unknown;
  readonly env?: unknown;
}

/** The decoded manifest, as a string: the kubelet restarts a static pod when this changes, not on a comment. */
function manifestKey(text: string): string {
  try {
    return JSON.stringify(parseYaml(text));
  } catch {
    return `unparsable:${text}`;
  }
}

/**
 * What the kubelet would run for a static Pod manifest: the container named `etcd`, its `command` then `args`
 * (`$(VAR)` expanded from its `env`), with the image's `etcd` replaced by the real binary.
 */
export function manifestLaunch(text: string, file: string, etcd: string): Launch {
  const pod = parseYaml(text) as { kind?: unknown; spec?: { containers?: unknown } } | null;
  if (pod?.kind !== "Pod") throw new Error(`${file}: not a Pod manifest`);
  const containers = Array.isArray(pod.spec?.containers) ? (pod.spec.containers as ContainerSpec[]) : [];
  const container = containers.find((c) => c?.name === "etcd");
  if (!container) throw new Error(`${file}: no container named etcd`);
  const strings = (value: unknown, what: string): string[] => {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
      throw new Error(`${file}: ${what} is not a list of strings`);
    }
    return value as string[];
  };
  const env: Record<string, string> = { PATH: CONTAINER_PATH, HOSTNAME: os.hostname() };
  const declared = container.env === undefined ? [] : container.env;
  if (!Array.isArray(declared)) throw new Error(`${file}: env is not a list`);
  for (const entry of declared as { name?: unknown; value?: unknown }[]) {
    if (typeof entry?.name !== "string") throw new Error(`${file}: an env entry has no name`);
    env[entry.name] = entry.value === undefined || entry.value === null ? "" : String(entry.value);
  }
  const expand = (arg: string) =>
    arg.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, n?: string) =>
      n === undefined ? "$" : n in env ? env[n] : m,
    );
  const argv = [...strings(container.command, "command"), ...strings(container.args, "args")].map(expand);
  if (argv.length === 0) throw new Error(`${file}: the etcd container has no command`);
  const binary = path.basename(argv[0]) === "etcd" ? etcd : argv[0];
  return { binary, args: argv.slice(1), env, cwd: "/" };
}

/**
 * What k3s would run its embedded etcd with: its own settings, then each `etcd-arg` entry of config.yaml (a list, or
 * one string) as `--key=value`, the key's leading dashes dropped; a later entry wins, as in k3s's own merge.
 */
export function k3sLaunch(text: string, file: string, etcd: string, own: readonly string[]): Launch {
  const config = parseYaml(text) as Record<string, unknown> | null;
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new Error(`${file}: not a mapping of settings`);
  }
  const raw = config["etcd-arg"] ?? [];
  const entries = typeof raw === "string" ? [raw] : raw;
  if (!Array.isArray(entries) || entries.some((e) => typeof e !== "string")) {
    throw new Error(`${file}: etcd-arg is not a list of strings`);
  }
  const extra = (entries as string[]).map((entry) => {
    const equals = entry.indexOf("=");
    if (equals < 0) throw new Error(`${file}: etcd-arg entry "${entry}" is not key=value`);
    return `--${entry.slice(0, equals).replace(/^-+/, "")}=${entry.slice(equals + 1)}`;
  });
  return { binary: etcd, args: [...own, ...extra], env: { PATH: SYSTEMD_PATH }, cwd: "/" };
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
