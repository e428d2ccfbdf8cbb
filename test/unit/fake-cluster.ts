import type { Alarm, MemberStatus } from "../../provider/types/observation";
import type { MemberMetrics } from "../../provider/types/observation";
import type { ClusterObservation } from "../../provider/types/observation";
import type { ClusterApi, MemberApi, TakeLock } from "../../provider/run/seams";

/**
 * An etcd cluster in memory, for the runs' unit tests: members with names, a leader, a revision, DB sizes, alarms,
 * quotas and learners, reached through the same interfaces as the real one. Everything that changes the cluster is
 * written to `events` in order, which is what the tests read back. Imports types only, so it loads no client.
 */

export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;

/** One member as a test sets it up; what is left out is a healthy voting member of 100 MiB, 20 MiB of it live. */
export interface FakeMemberSetup {
  readonly name: string;
  readonly dbSize?: number;
  readonly dbSizeInUse?: number;
  /** The quota it runs with. */
  readonly quotaBytes?: number;
  readonly learner?: boolean;
  /** Its process is not running: its port refuses connections. */
  readonly down?: boolean;
  /** The raft index its Status reports (default 5000): how up to date it is. */
  readonly raftIndex?: number;
}

export class FakeMember {
  readonly id: string;
  readonly endpoint: string;
  readonly learner: boolean;
  dbSize: number;
  dbSizeInUse: number;
  quotaBytes: number;
  raftIndex: number;
  up: boolean;
  /** Goes up by one at each restart, as `process_start_time_seconds` does. */
  processStartTime = 1;
  /** The next defrag kills the process instead (a member killed in its defrag). */
  dieInNextDefrag = false;

  constructor(
    readonly name: string,
    index: number,
    setup: FakeMemberSetup,
  ) {
    this.id = `${(index + 1) * 1111}`;
    this.endpoint = `http://127.0.0.1:${2379 + 10 * index}`;
    this.learner = setup.learner ?? false;
    this.dbSize = setup.dbSize ?? 100 * MiB;
    this.dbSizeInUse = setup.dbSizeInUse ?? 20 * MiB;
    this.quotaBytes = setup.quotaBytes ?? GiB;
    this.raftIndex = setup.raftIndex ?? 5000;
    this.up = !(setup.down ?? false);
  }
}

export class FakeCluster implements ClusterApi {
  readonly members: FakeMember[];
  readonly clients: ReadonlyMap<string, MemberApi>;
  /** What changed the cluster, in order: `compact 100`, `defrag m2`, `move leader m1 -> m2`, `restart m3`... */
  readonly events: string[] = [];
  /** The bound each compact and defrag call was given: `compact within 61000 ms`, `defrag m2 within 80000 ms`. */
  readonly bounds: string[] = [];
  leaderId: string | undefined;
  revision: number;
  compactedRevision = 0;
  alarms: Alarm[] = [];

  constructor(setups: readonly FakeMemberSetup[], options: { readonly leader: string; readonly revision?: number }) {
    this.members = setups.map((setup, i) => new FakeMember(setup.name, i, setup));
    this.clients = new Map(this.members.map((m) => [m.endpoint, new FakeMemberClient(this, m)]));
    this.leaderId = this.member(options.leader).id;
    this.revision = options.revision ?? 1;
  }

  member(name: string): FakeMember {
    const member = this.members.find((m) => m.name === name);
    if (!member) throw new Error(`the fake cluster has no member ${name}`);
    return member;
  }

  raiseAlarm(type: string, name: string): void {
    this.alarms.push({ type, memberId: this.member(name).id });
  }

  client(endpoint: string): MemberApi {
    const client = this.clients.get(endpoint);
    if (!client) throw new Error(`no client for ${endpoint}`);
    return client;
  }

  async observe(): Promise<ClusterObservation> {
    const up = this.members.filter((m) => m.up);
    return {
      members: up.map((m) => ({
        ...statusOf(this, m),
        metrics: metricsOf(m),
        name: m.name,
        isLeader: m.id === this.leaderId,
      })),
      unreachable: this.members
        .filter((m) => !m.up)
        .map((m) => ({ endpoint: m.endpoint, reason: `connect ECONNREFUSED ${m.endpoint}` })),
      uncovered: [],
      memberList: this.members.map((m) => ({
        id: m.id,
        name: m.name,
        clientUrls: [m.endpoint],
        peerUrls: [],
        isLearner: m.learner,
      })),
      alarms: [...this.alarms],
      // A leader whose process is down leads nothing.
      leaderId: up.some((m) => m.id === this.leaderId) ? this.leaderId : undefined,
      revision: this.revision,
    };
  }

  /** A lock that is always free; taking and releasing it are events too, so a test can see it released. */
  readonly takeLock: TakeLock = async () => {
    this.events.push("lock");
    return {
      unname: async () => undefined,
      release: async () => {
        this.events.push("unlock");
      },
    };
  };
}

function statusOf(cluster: FakeCluster, m: FakeMember): MemberStatus {
  return {
    endpoint: m.endpoint,
    id: m.id,
    clusterId: "c1",
    version: "3.6.16",
    dbSize: m.dbSize,
    dbSizeInUse: m.dbSizeInUse,
    leaderId: cluster.leaderId ?? "0",
    isLearner: m.learner,
    revision: cluster.revision,
    raftTerm: 2,
    raftIndex: m.raftIndex,
    errors: [],
    dbSizeQuota: m.quotaBytes,
  };
}

function metricsOf(m: FakeMember): MemberMetrics {
  return {
    quotaBytes: m.quotaBytes,
    dbTotalBytes: m.dbSize,
    dbInUseBytes: m.dbSizeInUse,
    processStartTime: m.processStartTime,
    stopsGrpcOnDefrag: undefined,
  };
}

/** One member's client: refuses every call while the member is down, as a port with no process does. */
class FakeMemberClient implements MemberApi {
  readonly endpoint: string;

  constructor(
    private readonly cluster: FakeCluster,
    private readonly member: FakeMember,
  ) {
    this.endpoint = member.endpoint;
  }

  private answering(): void {
    if (!this.member.up) throw new Error(`connect ECONNREFUSED ${this.endpoint}`);
  }

  async status(): Promise<MemberStatus> {
    this.answering();
    return statusOf(this.cluster, this.member);
  }

  async statusAndMetrics(): Promise<{ status: MemberStatus; metrics: MemberMetrics }> {
    this.answering();
    return { status: statusOf(this.cluster, this.member), metrics: metricsOf(this.member) };
  }

  async metrics(): Promise<MemberMetrics> {
    this.answering();
    return metricsOf(this.member);
  }

  async alarms(): Promise<Alarm[]> {
    this.answering();
    return [...this.cluster.alarms];
  }

  async disarmNoSpace(memberId: string): Promise<void> {
    this.answering();
    // etcd takes a request that names no member as "every alarm", CORRUPT too.
    if (!this.cluster.members.some((m) => m.id === memberId)) throw new Error(`disarm names no member: "${memberId}"`);
    const name = this.cluster.members.find((m) => m.id === memberId)?.name;
    this.cluster.alarms = this.cluster.alarms.filter((a) => !(a.type === "NOSPACE" && a.memberId === memberId));
    this.cluster.events.push(`disarm NOSPACE on ${name}`);
  }

  async compact(revision: number, timeoutMs: number): Promise<void> {
    this.answering();
    this.cluster.bounds.push(`compact within ${timeoutMs} ms`);
    if (revision <= this.cluster.compactedRevision) {
      throw new Error("etcdserver: mvcc: required revision has been compacted");
    }
    this.cluster.compactedRevision = revision;
    this.cluster.events.push(`compact ${revision}`);
  }

  async grantLease(): Promise<string> {
    this.answering();
    return "1";
  }

  async revokeLease(): Promise<void> {
    this.answering();
  }

  async defragment(timeoutMs: number): Promise<void> {
    this.answering();
    this.cluster.bounds.push(`defrag ${this.member.name} within ${timeoutMs} ms`);
    if (this.member.dieInNextDefrag) {
      this.member.dieInNextDefrag = false;
      this.member.up = false;
      this.cluster.events.push(`${this.member.name} killed in its defrag`);
      throw new Error("Call cancelled");
    }
    this.member.dbSize = this.member.dbSizeInUse;
    this.cluster.events.push(`defrag ${this.member.name}`);
  }

  async moveLeader(targetId: string): Promise<void> {
    this.answering();
    if (this.cluster.leaderId !== this.member.id) throw new Error("etcdserver: not leader");
    const target = this.cluster.members.find((m) => m.id === targetId)!;
    this.cluster.leaderId = targetId;
    this.cluster.events.push(`move leader ${this.member.name} -> ${target.name}`);
  }

  async snapshot(): Promise<void> {
    throw new Error("the fake cluster takes no snapshots");
  }
}
