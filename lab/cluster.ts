import { execFileSync, spawn } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { setTimeout as sleep } from "timers/promises";
import type { IOptions } from "etcd3";
import { Etcd3 } from "etcd3";
import { etcdBinary } from "./etcd-binary";
import { IP_COMMAND, type LabNetwork } from "./netns";
import type { LabTls } from "./tls";

/** How {@link LabCluster.start} builds a local cluster. */
export interface LabClusterOptions {
  /** Number of members, named m1, m2, ... (default 3). */
  readonly members?: number;
  /** `--quota-backend-bytes` for every member; unset leaves etcd's default (2 GiB). */
  readonly quotaBytes?: number;
  /** etcd version as {@link etcdBinary} takes it (default `$ETCD_VERSION`, else the newest 3.7). */
  readonly version?: string;
  /** Folder for the members' data and logs; default a new temporary folder, which {@link LabCluster.stop} removes. */
  readonly dir?: string;
  /** Flags appended to every member's command line (a later flag overrides an earlier one). */
  readonly extraArgs?: readonly string[];
  /** `--snapshot-count` (default 1000: a short WAL replays quickly, which keeps restarts fast). */
  readonly snapshotCount?: number;
  /** Leave the members running when this process exits (the CLI's `up`); default false. */
  readonly detached?: boolean;
  /** How long to wait for every member to be ready (default 30 s). */
  readonly startTimeoutMs?: number;
  /** Receives progress lines. */
  readonly log?: (line: string) => void;
  /**
   * Serve https client and peer URLs with this PKI (see `makeLabTls` in lab/tls.ts), with `--client-cert-auth`:
   * every client must present a certificate from its CA. The lab's own readiness and leader checks use its `client`
   * certificate. Metrics URLs stay plain http.
   */
  readonly tls?: LabTlsFiles;
  /** Enable auth once the members are ready: see {@link enableAuth}. */
  readonly auth?: LabAuth;
  /**
   * Run member i on host i of this network, listening on that host's address with etcd's standard ports, instead
   * of on 127.0.0.1 with free ports.
   */
  readonly network?: LabNetwork;
  /**
   * Start the one member from this snapshot file, restored with the release's etcdutl (etcdctl for 3.4, which has
   * no etcdutl), instead of from an empty data dir. Needs `members: 1`.
   */
  readonly restoreFrom?: string;
}

/** The files of a lab PKI the members and the lab's own checks need; a {@link LabTls} has them all. */
export type LabTlsFiles = Pick<LabTls, "caFile"> & {
  readonly server: Pick<LabTls["server"], "certFile" | "keyFile">;
  readonly client: Pick<LabTls["client"], "certFile" | "keyFile">;
};

/** A user {@link enableAuth} creates, with one role per prefix it may read and write. */
export interface LabUser {
  readonly name: string;
  readonly password: string;
  /** Key prefixes the user may read and write (one role `<name>-rw-<n>` each); none: a user without permissions. */
  readonly readWritePrefixes?: readonly string[];
  /** Existing roles to grant as well, e.g. `root`. */
  readonly roles?: readonly string[];
}

/** What {@link enableAuth} sets up. */
export interface LabAuth {
  /** Password of the `root` user (which gets the `root` role, as etcd requires before auth can be enabled). */
  readonly rootPassword: string;
  /** More users to create before auth is enabled. */
  readonly users?: readonly LabUser[];
}

/** One etcd process of a {@link LabCluster}. */
export interface LabMember {
  /** `m1`, `m2`, ... */
  readonly name: string;
  /** The member's client URL, e.g. `http://127.0.0.1:40123`. */
  readonly clientUrl: string;
  /** The member's peer (raft) URL. */
  readonly peerUrl: string;
  /** `--listen-metrics-urls`: /metrics and /health on their own port. */
  readonly metricsUrl: string;
  /** `--data-dir`, `<dir>/<name>`. */
  readonly dataDir: string;
  /** The network namespace the member runs in (a {@link LabNetwork} host); unset on 127.0.0.1. */
  readonly namespace?: string;
  /** Process id while running; undefined once stopped. */
  pid: number | undefined;
  /** The full command line after the binary; {@link LabCluster.startMember} reuses it. */
  args: string[];
}

/** The TLS files a cluster's state records, so that {@link LabCluster.attach} can check readiness again. */
export interface LabClusterTlsState {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** What {@link LabCluster.toJSON} records and {@link LabCluster.attach} reads back. */
export interface LabClusterState {
  readonly dir: string;
  /** Path of the etcd binary. */
  readonly etcd: string;
  /** The version it reports. */
  readonly version: string;
  /** Members outlive the process that started them. */
  readonly detached: boolean;
  /** Whether stop() removes `dir` by default (true when the lab created it). */
  readonly ownsDir: boolean;
  readonly members: LabMember[];
  /** Set when the members serve https: the CA and the client certificate the lab's own checks present. */
  readonly tls?: LabClusterTlsState;
}

/** Options for {@link LabCluster.startMember}. */
export interface StartMemberOptions {
  /** Wait until the member answers Status with a leader (default true). */
  readonly wait?: boolean;
  /** Bound on that wait (default 30 s). */
  readonly timeoutMs?: number;
}

/** Options for {@link LabCluster.stop}. */
export interface StopOptions {
  /** Remove the cluster folder (default: only when the lab created it). */
  readonly removeDir?: boolean;
}

const DEFAULT_TIMEOUT_MS = 30_000;
// SIGTERM lets a leader hand over leadership first, which can take a few election rounds.
const TERM_GRACE_MS = 10_000;
const KILL_GRACE_MS = 5_000;
const POLL_MS = 100;
const PORT_CLASH_ATTEMPTS = 3;

/**
 * Local etcd members on 127.0.0.1 for tests, the demo and users, each a process of its own with its log in
 * `<dir>/<name>.log` and its data in `<dir>/<name>`.
 */
export class LabCluster {
  readonly members: LabMember[];
  readonly dir: string;
  /** The etcd binary the members run. */
  readonly etcd: string;
  /** The version that binary reports. */
  readonly version: string;
  private readonly detached: boolean;
  private readonly ownsDir: boolean;
  private readonly log: (line: string) => void;
  /** The CA and client certificate for https members; undefined for http. */
  readonly tls: LabClusterTlsState | undefined;

  private constructor(state: LabClusterState, log: (line: string) => void) {
    this.members = state.members.map((m) => ({ ...m, args: [...m.args] }));
    this.tls = state.tls;
    this.dir = state.dir;
    this.etcd = state.etcd;
    this.version = state.version;
    this.detached = state.detached;
    this.ownsDir = state.ownsDir;
    this.log = log;
  }

  /**
   * Starts a new cluster and waits until every member answers Status with a leader. On failure it stops what it
   * started and throws with the tail of each member's log.
   */
  static async start(options: LabClusterOptions = {}): Promise<LabCluster> {
    const count = options.members ?? 3;
    if (!Number.isInteger(count) || count < 1 || count > 7) {
      throw new Error(`members must be a whole number from 1 to 7, got ${count}`);
    }
    const binary = etcdBinary(options.version);
    const log = options.log ?? (() => undefined);
    for (let attempt = 1; ; attempt++) {
      const cluster = await LabCluster.prepare(options, count, binary.etcd, binary.version, log);
      try {
        cluster.log(`starting ${count} etcd ${binary.version} member(s) in ${cluster.dir}`);
        if (options.restoreFrom !== undefined) cluster.restore(options.restoreFrom, binary.etcd);
        for (const member of cluster.members) cluster.spawnMember(member);
        await cluster.waitReady(cluster.members, options.startTimeoutMs ?? DEFAULT_TIMEOUT_MS);
        cluster.log(`ready: ${cluster.endpoints.join(",")}`);
        if (options.auth) {
          await enableAuth(cluster.endpoints, options.auth, cluster.clientOptions());
          cluster.log(`auth enabled (root and ${options.auth.users?.length ?? 0} more user(s))`);
        }
        return cluster;
      } catch (err) {
        await cluster.stop();
        // Another process can take a probed port before etcd binds it; fresh ports usually settle that.
        const clash = err instanceof Error && err.message.includes("address already in use");
        if (!clash || attempt >= PORT_CLASH_ATTEMPTS) throw err;
        cluster.log(`a port was taken meanwhile; retrying with new ports`);
        cluster.removeMemberFiles();
      }
    }
  }

  private restore(snapshot: string, etcd: string): void {
    if (this.members.length !== 1) throw new Error(`restoreFrom needs members: 1, got ${this.members.length}`);
    const [member] = this.members;
    const etcdutl = path.join(path.dirname(etcd), "etcdutl");
    const [tool, env] = fs.existsSync(etcdutl)
      ? [etcdutl, etcdFreeEnv()]
      : [path.join(path.dirname(etcd), "etcdctl"), { ...etcdFreeEnv(), ETCDCTL_API: "3" }];
    execFileSync(
      tool,
      [
        "snapshot",
        "restore",
        snapshot,
        `--name=${member.name}`,
        `--data-dir=${member.dataDir}`,
        `--initial-cluster=${member.name}=${member.peerUrl}`,
        `--initial-advertise-peer-urls=${member.peerUrl}`,
      ],
      { env, stdio: "pipe" },
    );
    this.log(`restored ${member.name} from ${snapshot}`);
  }

  /** Takes over a cluster recorded by {@link toJSON} (e.g. one the CLI left running). */
  static attach(stateFile: string, log: (line: string) => void = () => undefined): LabCluster {
    const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as LabClusterState;
    if (!Array.isArray(state.members) || typeof state.dir !== "string" || typeof state.etcd !== "string") {
      throw new Error(`${stateFile} is not a lab cluster state file`);
    }
    return new LabCluster(state, log);
  }

  /** The client URLs, in member order. */
  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  /**
   * etcd3 client options for these members: hosts and, for https members, the CA and the lab's client certificate
   * (CN `root`; under auth etcd takes it as user root when no password is given). `extra` is merged over them.
   */
  clientOptions(extra: Partial<IOptions> = {}): IOptions {
    const options: IOptions = { hosts: this.endpoints };
    if (this.tls) {
      options.credentials = {
        rootCertificate: fs.readFileSync(this.tls.caFile),
        certChain: fs.readFileSync(this.tls.certFile),
        privateKey: fs.readFileSync(this.tls.keyFile),
      };
    }
    return { ...options, ...extra };
  }

  /** The member called `name`; throws for an unknown name. */
  member(name: string): LabMember {
    const member = this.members.find((m) => m.name === name);
    if (!member) throw new Error(`no member "${name}" (have ${this.members.map((m) => m.name).join(", ")})`);
    return member;
  }

  /** Whether the member's recorded process is still this member's etcd (not a pid reused by something else). */
  isRunning(name: string): boolean {
    const member = this.member(name);
    return member.pid !== undefined && isMemberProcess(member.pid, member.dataDir);
  }

  /** Signals the member's process (SIGTERM by default) and waits for it to exit, escalating to SIGKILL. */
  async stopMember(name: string, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const member = this.member(name);
    const pid = member.pid;
    if (pid === undefined) return;
    if (isMemberProcess(pid, member.dataDir)) {
      this.log(`stopping ${name} (pid ${pid}, ${signal})`);
      signalPid(pid, signal);
      if (!(await waitForExit(pid, signal === "SIGKILL" ? KILL_GRACE_MS : TERM_GRACE_MS))) {
        this.log(`${name} (pid ${pid}) ignored ${signal}; sending SIGKILL`);
        signalPid(pid, "SIGKILL");
        if (!(await waitForExit(pid, KILL_GRACE_MS))) {
          throw new Error(`member ${name} (pid ${pid}) did not exit after SIGKILL`);
        }
      }
    }
    leftovers.pids.delete(pid);
    member.pid = undefined;
  }

  /**
   * Starts a stopped member again with its previous command line, or with `args` (the full command line, which
   * is then kept). Waits until it answers Status with a leader unless `options.wait` is false.
   */
  async startMember(name: string, args?: readonly string[], options: StartMemberOptions = {}): Promise<void> {
    const member = this.member(name);
    if (this.isRunning(name)) throw new Error(`member ${name} is already running (pid ${member.pid})`);
    if (args) member.args = [...args];
    this.spawnMember(member);
    if (options.wait ?? true) await this.waitReady([member], options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  }

  /**
   * Adds a learner, a member that receives the log but does not vote (etcd 3.4+): registers it (MemberAdd with
   * isLearner), then starts it joining the running cluster with the others' settings. Named after the last member,
   * on 127.0.0.1 with free ports; not for TLS or network clusters.
   */
  async addLearner(): Promise<LabMember> {
    if (this.tls || this.members.some((m) => m.namespace !== undefined)) {
      throw new Error("addLearner supports plain http clusters on 127.0.0.1");
    }
    const name = `m${this.members.length + 1}`;
    const [clientPort, peerPort, metricsPort] = await freePorts(3);
    const url = (port: number) => `http://127.0.0.1:${port}`;
    // etcd refuses a new member ("unhealthy cluster") until every member has been connected for a few seconds. A
    // client per attempt: etcd3's circuit breaker would refuse the retries of a client that failed.
    const deadline = Date.now() + DEFAULT_TIMEOUT_MS;
    for (;;) {
      const client = new Etcd3(this.clientOptions());
      try {
        await client.cluster.memberAdd({ peerURLs: [url(peerPort)], isLearner: true });
        break;
      } catch (error) {
        if (!/unhealthy cluster/.test(String(error)) || Date.now() > deadline) throw error;
        await sleep(500);
      } finally {
        client.close();
      }
    }
    const own =
      /^--(?:name|data-dir|listen-client-urls|advertise-client-urls|listen-peer-urls|initial-advertise-peer-urls|listen-metrics-urls|initial-cluster|initial-cluster-state)=/;
    const member: LabMember = {
      name,
      clientUrl: url(clientPort),
      peerUrl: url(peerPort),
      metricsUrl: url(metricsPort),
      dataDir: path.join(this.dir, name),
      pid: undefined,
      args: [
        `--name=${name}`,
        `--data-dir=${path.join(this.dir, name)}`,
        `--listen-client-urls=${url(clientPort)}`,
        `--advertise-client-urls=${url(clientPort)}`,
        `--listen-peer-urls=${url(peerPort)}`,
        `--initial-advertise-peer-urls=${url(peerPort)}`,
        `--listen-metrics-urls=${url(metricsPort)}`,
        `--initial-cluster=${[...this.members, { name, peerUrl: url(peerPort) }].map((m) => `${m.name}=${m.peerUrl}`).join(",")}`,
        "--initial-cluster-state=existing",
        ...this.members[0].args.filter((arg) => !own.test(arg)),
      ],
    };
    this.members.push(member);
    this.spawnMember(member);
    await this.waitReady([member], DEFAULT_TIMEOUT_MS);
    this.log(`learner ${name} joined at ${member.clientUrl}`);
    return member;
  }

  /**
   * Stops every member (SIGTERM, then SIGKILL after a bound); safe to call more than once. The leader goes last:
   * SIGTERMed together with its followers it waits ~7 s trying to hand leadership to members that are exiting.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    const leader = await this.leader();
    await Promise.all(this.members.filter((m) => m.name !== leader).map((m) => this.stopMember(m.name)));
    if (leader !== undefined) await this.stopMember(leader);
    if (options.removeDir ?? this.ownsDir) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      leftovers.dirs.delete(this.dir);
    }
  }

  /** The name of the member the running members report as leader; undefined without one. */
  async leader(): Promise<string | undefined> {
    const running = this.members.filter((m) => this.isRunning(m.name));
    const views = await Promise.all(running.map((m) => leaderView(m, this.tls)));
    const index = views.findIndex((view) => view?.isLeader === true);
    return index < 0 ? undefined : running[index].name;
  }

  /** The last lines of a member's log, for error messages. */
  logTail(name: string, lines = 12): string {
    const file = this.logFile(this.member(name));
    let text: string;
    try {
      const fd = fs.openSync(file, "r");
      try {
        const size = fs.fstatSync(fd).size;
        const length = Math.min(size, 16 * 1024);
        const buffer = Buffer.alloc(length);
        fs.readSync(fd, buffer, 0, length, size - length);
        text = buffer.toString("utf8");
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return `(no log at ${file})`;
    }
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  }

  toJSON(): LabClusterState {
    return {
      dir: this.dir,
      etcd: this.etcd,
      version: this.version,
      detached: this.detached,
      ownsDir: this.ownsDir,
      members: this.members,
      ...(this.tls ? { tls: this.tls } : {}),
    };
  }

  private static async prepare(
    options: LabClusterOptions,
    count: number,
    etcd: string,
    version: string,
    log: (line: string) => void,
  ): Promise<LabCluster> {
    const ownsDir = options.dir === undefined;
    const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "etcd-lab-"));
    fs.mkdirSync(dir, { recursive: true });
    if (ownsDir && !options.detached) cleanUpOnExit().dirs.add(dir);
    const scheme = options.tls ? "https" : "http";
    const network = options.network;
    if (network && network.hosts.length < count) {
      throw new Error(`${count} members need ${count} hosts; the lab network has ${network.hosts.length}`);
    }
    const ports = network ? [] : await freePorts(count * 3);
    // On its own host a member listens on etcd's standard ports (client 2379, peer 2380, metrics 2381).
    const url = (i: number, port: number, protocol = scheme) =>
      network
        ? `${protocol}://${network.hosts[i].address}:${2379 + port}`
        : `${protocol}://127.0.0.1:${ports[3 * i + port]}`;
    const members = Array.from({ length: count }, (_, i) => ({
      name: `m${i + 1}`,
      clientUrl: url(i, 0),
      peerUrl: url(i, 1),
      // Plain http whatever the client URLs: Prometheus scrapes and the supervisor's checks need no certificate.
      metricsUrl: url(i, 2, "http"),
      dataDir: path.join(dir, `m${i + 1}`),
      ...(network ? { namespace: network.hosts[i].namespace } : {}),
    }));
    for (const m of members) {
      // An old data dir would make etcd rejoin with stale peer URLs instead of forming this cluster.
      if (fs.existsSync(m.dataDir)) throw new Error(`${m.dataDir} already exists; give the lab an empty folder`);
    }
    const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
    const token = `etcd-lab-${randomBytes(6).toString("hex")}`;
    const common = [
      `--initial-cluster=${initialCluster}`,
      "--initial-cluster-state=new",
      `--initial-cluster-token=${token}`,
      `--snapshot-count=${options.snapshotCount ?? 1000}`,
      // 3.4 defaults to the deprecated capnslog; zap gives every version the same JSON lines.
      "--logger=zap",
      ...(options.quotaBytes === undefined ? [] : [`--quota-backend-bytes=${options.quotaBytes}`]),
      ...(options.tls ? tlsArgs(options.tls) : []),
    ];
    const state: LabClusterState = {
      dir,
      etcd,
      version,
      detached: options.detached ?? false,
      ownsDir,
      ...(options.tls
        ? {
            tls: {
              caFile: options.tls.caFile,
              certFile: options.tls.client.certFile,
              keyFile: options.tls.client.keyFile,
            },
          }
        : {}),
      members: members.map((m) => ({
        ...m,
        pid: undefined,
        args: [
          `--name=${m.name}`,
          `--data-dir=${m.dataDir}`,
          `--listen-client-urls=${m.clientUrl}`,
          `--advertise-client-urls=${m.clientUrl}`,
          `--listen-peer-urls=${m.peerUrl}`,
          `--initial-advertise-peer-urls=${m.peerUrl}`,
          `--listen-metrics-urls=${m.metricsUrl}`,
          ...common,
          ...(options.extraArgs ?? []),
        ],
      })),
    };
    return new LabCluster(state, log);
  }

  private logFile(member: LabMember): string {
    return path.join(this.dir, `${member.name}.log`);
  }

  private removeMemberFiles(): void {
    for (const m of this.members) {
      fs.rmSync(m.dataDir, { recursive: true, force: true });
      fs.rmSync(this.logFile(m), { force: true });
    }
  }

  private spawnMember(member: LabMember): void {
    const out = fs.openSync(this.logFile(member), "a");
    let pid: number | undefined;
    try {
      const [binary, ...args] = inNamespace(member.namespace, [this.etcd, ...member.args]);
      const child = spawn(binary, args, {
        stdio: ["ignore", out, out],
        detached: this.detached,
        env: etcdFreeEnv(),
      });
      // Without a listener a failed spawn would be an uncaught error; the missing pid below reports it.
      child.on("error", (err) => this.log(`${member.name}: ${err.message}`));
      pid = child.pid;
      if (pid !== undefined && !this.detached) {
        const tracked = pid;
        cleanUpOnExit().pids.add(tracked);
        child.once("exit", () => leftovers.pids.delete(tracked));
      }
      // Members never keep this process alive: the exit hook (or, detached, nobody) takes care of them.
      child.unref();
    } finally {
      fs.closeSync(out);
    }
    if (pid === undefined) throw new Error(`could not start ${this.etcd} for member ${member.name}`);
    member.pid = pid;
    this.log(`${member.name}: pid ${pid}, client ${member.clientUrl}, log ${this.logFile(member)}`);
  }

  /** Polls Status rather than /health: /health is false during NOSPACE, when the lab is most needed. */
  private async waitReady(members: readonly LabMember[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const pending = new Set(members);
    for (;;) {
      for (const member of [...pending]) {
        if (member.pid === undefined || !isAlive(member.pid)) {
          throw new Error(
            `etcd member ${member.name} exited while starting; its log ends with:\n${this.logTail(member.name)}`,
          );
        }
        if ((await leaderView(member, this.tls))?.hasLeader) pending.delete(member);
      }
      if (pending.size === 0) return;
      if (Date.now() >= deadline) {
        const tails = [...pending].map((m) => `--- ${m.name} (${this.logFile(m)}):\n${this.logTail(m.name)}`);
        throw new Error(
          `etcd member(s) ${[...pending].map((m) => m.name).join(", ")} not ready after ${timeoutMs} ms; ` +
            `log tails:\n${tails.join("\n")}`,
        );
      }
      await sleep(POLL_MS);
    }
  }
}

// What non-detached clusters have not stopped yet: when this process exits their members are SIGKILLed and their
// temporary folders removed, so a crashed test leaves no etcd (and no data) behind.
const leftovers = { pids: new Set<number>(), dirs: new Set<string>() };
let exitHookInstalled = false;

function cleanUpOnExit(): typeof leftovers {
  if (!exitHookInstalled) {
    process.on("exit", () => {
      for (const pid of leftovers.pids) signalPid(pid, "SIGKILL");
      for (const dir of leftovers.dirs) {
        try {
          // Retries: a member that was just killed may still be finishing a write into its folder.
          fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
        } catch {
          // Exit handlers must not throw; a folder left in the temp dir is the lesser harm.
        }
      }
    });
    exitHookInstalled = true;
  }
  return leftovers;
}

export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

/** Alive and not a zombie (a parent that never reaps would otherwise keep a dead etcd "alive"). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return !fs.existsSync("/proc/self/stat");
  }
}

// A recorded pid may belong to another program by now; only a process running with this member's data dir is it.
function isMemberProcess(pid: number, dataDir: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(`--data-dir=${dataDir}`);
  } catch {
    return !fs.existsSync("/proc/self/cmdline");
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS / 2);
  }
  return true;
}

// ETCD_* variables from the caller's shell would silently configure members, and etcd 3.4 reads ETCD_VERSION (which
// picks the lab's binary) as its boolean --version flag: "invalid value "3.4" for ETCD_VERSION", no start.
function etcdFreeEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("ETCD_")));
}

/**
 * The command line that runs `argv` in network namespace `namespace` (unchanged without one). `ip netns exec` execs
 * the program after joining the namespace, so the pid the caller gets is the program's own.
 */
export function inNamespace(namespace: string | undefined, argv: readonly string[]): string[] {
  return namespace === undefined ? [...argv] : [IP_COMMAND, "netns", "exec", namespace, ...argv];
}

/** Binds all the ports at once so that no two of them can be the same. */
async function freePorts(count: number): Promise<number[]> {
  const listening = await Promise.allSettled(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const servers = listening.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  const failed = listening.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw new Error(`could not reserve a port on 127.0.0.1: ${String(failed.reason)}`);
  return ports;
}

interface GatewayStatus {
  readonly leader?: string;
  readonly header?: { readonly member_id?: string };
}

/** What one HTTP request got: the status code and body, or undefined when nothing answered. */
type HttpAnswer = { readonly status: number; readonly body: string } | undefined;

/** One request with a 1 s bound; over https it presents the lab's client certificate (Node's fetch cannot). */
function request(url: string, method: "GET" | "POST", tls?: LabClusterTlsState): Promise<HttpAnswer> {
  return new Promise((resolve) => {
    const options: https.RequestOptions = { method, agent: false, timeout: 1000 };
    if (method === "POST") options.headers = { "content-type": "application/json" };
    let send: typeof http.request = http.request;
    if (url.startsWith("https:")) {
      if (!tls) {
        resolve(undefined);
        return;
      }
      Object.assign(options, {
        ca: fs.readFileSync(tls.caFile),
        cert: fs.readFileSync(tls.certFile),
        key: fs.readFileSync(tls.keyFile),
      });
      send = https.request;
    }
    const req = send(url, options, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", () => resolve(undefined));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
    req.end(method === "POST" ? "{}" : undefined);
  });
}

/** Whether a member has a leader and is it, or undefined while it does not serve clients. */
interface LeaderView {
  readonly hasLeader: boolean;
  readonly isLeader: boolean;
}

/**
 * Status through etcd's JSON gateway: no gRPC client whose circuit breaker would slow the polling down. etcd 3.4 and
 * older 3.5 releases answer it without a user under auth; newer ones (3.5.30) refuse it without one
 * (`user name is empty`). Any answer means the member serves clients, so then the leader comes from its metrics URL
 * (`etcd_server_has_leader`, `etcd_server_is_leader`), which needs neither a user nor a certificate.
 */
async function leaderView(member: LabMember, tls?: LabClusterTlsState): Promise<LeaderView | undefined> {
  const answer = await request(`${member.clientUrl}/v3/maintenance/status`, "POST", tls);
  if (answer === undefined) return undefined;
  if (answer.status === 200) {
    try {
      const status = JSON.parse(answer.body) as GatewayStatus;
      const hasLeader = status.leader !== undefined && status.leader !== "0";
      return { hasLeader, isLeader: hasLeader && status.leader === status.header?.member_id };
    } catch {
      return undefined;
    }
  }
  const metrics = await request(`${member.metricsUrl}/metrics`, "GET");
  if (metrics?.status !== 200) return undefined;
  const gauge = (name: string) => new RegExp(`^${name} 1$`, "m").test(metrics.body);
  return { hasLeader: gauge("etcd_server_has_leader"), isLeader: gauge("etcd_server_is_leader") };
}

/** `--cert-file` and friends for https client and peer URLs, both requiring a certificate from the lab's CA. */
function tlsArgs(tls: LabTlsFiles): string[] {
  return [
    `--cert-file=${tls.server.certFile}`,
    `--key-file=${tls.server.keyFile}`,
    `--trusted-ca-file=${tls.caFile}`,
    // Spelled with a value so every flag is `--key=value`, which the supervisor's config-file writers rely on.
    "--client-cert-auth=true",
    `--peer-cert-file=${tls.server.certFile}`,
    `--peer-key-file=${tls.server.keyFile}`,
    `--peer-trusted-ca-file=${tls.caFile}`,
    "--peer-client-cert-auth=true",
  ];
}

/**
 * Turns on etcd auth: creates `root` (with the `root` role, which etcd requires first), then each of `auth.users`
 * with one read-write role per key prefix, then enables auth. `client` adds connection options (TLS) to the
 * endpoints. Fails when auth is already enabled: etcd then refuses user changes without a root login.
 */
async function enableAuth(endpoints: readonly string[], auth: LabAuth, client: Partial<IOptions> = {}): Promise<void> {
  const etcd = new Etcd3({
    ...client,
    hosts: [...endpoints],
    defaultCallOptions: () => ({ deadline: Date.now() + 10_000 }),
  });
  try {
    const root = await etcd.user("root").create(auth.rootPassword);
    await root.addRole(await etcd.role("root").create());
    for (const user of auth.users ?? []) {
      const created = await etcd.user(user.name).create(user.password);
      for (const [i, prefix] of (user.readWritePrefixes ?? []).entries()) {
        const role = await etcd.role(`${user.name}-rw-${i + 1}`).create();
        await role.grant({ permission: "Readwrite", range: etcd.range({ prefix }) });
        await created.addRole(role);
      }
      for (const role of user.roles ?? []) await created.addRole(role);
    }
    await etcd.auth.authEnable({});
  } finally {
    etcd.close();
  }
}
