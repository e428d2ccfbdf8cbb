import { backupsToDelete } from "../../provider/config/backups";
import type { CommandResult, FileRead, Host, PruneResult, WriteOptions } from "../../provider/hosts/host";
import type { MemberSpec } from "../../provider/inputs/quota";
import type { HostSource } from "../../provider/run/seams";
import type { FakeCluster, FakeMember } from "./fake-cluster";

/**
 * What a member does when restarted, given the quota its config file now says: comes back with a quota, or stays
 * down ("down"). By default it comes back with the file's quota, as etcd does.
 */
export type Comeback = (quotaInFile: number | undefined) => number | "down";

/** The default: etcd reads its file. */
const readsItsFile: Comeback = (quota) => quota ?? 2 * 1024 ** 3;

interface Managed {
  readonly member: FakeMember;
  readonly file: string;
  readonly comeback: Comeback;
  /** How long after its restart command the member answers again. */
  readonly downForMs: number;
}

/**
 * The machine of every fake member, for EtcdQuota's runs: files in memory, and a restart command per member
 * (`restart m1`) that restarts that fake member from its file. Any other command (the run's writability probe)
 * succeeds and prints nothing. Writes, restores and restarts are the cluster's events too.
 */
export class FakeHost implements Host, HostSource {
  readonly label = "fake-host";
  readonly files = new Map<string, string>();
  /** For each restart, the other voting members that were down at that moment. */
  readonly othersDownAtRestart: string[][] = [];
  private readonly managed = new Map<string, Managed>();
  /** Set to make pruning backups fail, as a host whose folder cannot be listed does. */
  pruneFailure: string | undefined;

  constructor(private readonly cluster: FakeCluster) {}

  /**
   * Puts `member`'s etcd config file, saying `quota-backend-bytes: <its quota>`, on this host; returns the entry of
   * EtcdQuota's `members` for it.
   */
  manage(
    member: FakeMember,
    options: { readonly comeback?: Comeback; readonly downForMs?: number } = {},
  ): Record<string, string> {
    const file = `/etc/etcd/${member.name}.conf.yml`;
    this.files.set(
      file,
      `name: ${member.name}\ndata-dir: /var/lib/etcd/${member.name}\nquota-backend-bytes: ${member.quotaBytes}\n`,
    );
    const restartCommand = `restart ${member.name}`;
    this.managed.set(restartCommand, {
      member,
      file,
      comeback: options.comeback ?? readsItsFile,
      downForMs: options.downForMs ?? 0,
    });
    return { endpoint: member.endpoint, configFile: file, format: "etcd-config", restartCommand };
  }

  async for(_spec: MemberSpec): Promise<Host> {
    return this;
  }

  async readFile(path: string): Promise<FileRead> {
    const text = this.files.get(path);
    if (text === undefined) throw new Error(`${path}: no such file`);
    return { text, realPath: path };
  }

  async writeFileAtomic(path: string, text: string, options: WriteOptions = {}): Promise<{ backupPath: string }> {
    const backupPath = options.backupPath ?? `${path}.bak`;
    this.files.set(backupPath, (await this.readFile(path)).text);
    this.files.set(path, text);
    this.cluster.events.push(`write ${path}`);
    return { backupPath };
  }

  async restore(path: string, backupPath: string): Promise<void> {
    this.files.set(path, (await this.readFile(backupPath)).text);
    this.cluster.events.push(`restore ${path}`);
  }

  /** Prunes among the in-memory files, which are all regular files. */
  async pruneBackups(backupPath: string, keep: number): Promise<PruneResult> {
    if (this.pruneFailure !== undefined) throw new Error(this.pruneFailure);
    const folder = backupPath.slice(0, backupPath.lastIndexOf("/") + 1);
    const entries = [...this.files.keys()]
      .filter((path) => path.startsWith(folder) && !path.slice(folder.length).includes("/"))
      .map((path) => ({ name: path.slice(folder.length), type: "file" as const }));
    const deleted = backupsToDelete(entries, backupPath.slice(folder.length), keep).map((name) => folder + name);
    for (const path of deleted) this.files.delete(path);
    return { deleted, kept: [] };
  }

  async run(command: string): Promise<CommandResult> {
    const managed = this.managed.get(command);
    if (managed) this.restart(managed);
    return { stdout: "", stderr: "", code: 0 };
  }

  async close(): Promise<void> {}

  private restart({ member, file, comeback, downForMs }: Managed): void {
    this.othersDownAtRestart.push(
      this.cluster.members.filter((m) => m !== member && !m.learner && !m.up).map((m) => m.name),
    );
    this.cluster.events.push(`restart ${member.name}`);
    const quota = /^quota-backend-bytes: (\d+)$/m.exec(this.files.get(file) ?? "")?.[1];
    const outcome = comeback(quota === undefined ? undefined : Number(quota));
    member.up = false;
    if (outcome === "down") return;
    member.processStartTime += 1;
    member.quotaBytes = outcome;
    if (downForMs === 0) member.up = true;
    else setTimeout(() => (member.up = true), downForMs);
  }
}
