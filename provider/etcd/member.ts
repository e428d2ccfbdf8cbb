import * as http from "http";
import * as https from "https";
import { noop } from "cockatiel";
import { AlarmAction, AlarmType, Etcd3, IOptions } from "etcd3";
import { EtcdQuotaError, MemberUnavailableError } from "../errors";
import { EtcdAccess } from "./access";
import { MemberMetrics, memberMetricsFrom } from "./metrics";

/** What one member says about itself (Maintenance.Status), with numbers as numbers. */
export interface MemberStatus {
  readonly endpoint: string;
  /** Member ID as etcd prints it (hex, as in `etcdctl endpoint status`). */
  readonly id: string;
  /** Cluster ID (hex); the same on every member of one cluster. */
  readonly clusterId: string;
  readonly version: string;
  readonly dbSize: number;
  /** Bytes in use inside the DB file; `dbSize - dbSizeInUse` is what a defrag gives back. */
  readonly dbSizeInUse: number;
  readonly leaderId: string;
  readonly isLearner: boolean;
  /** The store's current revision. */
  readonly revision: number;
  readonly raftTerm: number;
  readonly raftIndex: number;
  /** Problems the member reports about itself, e.g. `etcdserver: mvcc: database space exceeded`. */
  readonly errors: readonly string[];
}

/** An alarm as raised on a member: `NOSPACE`, `CORRUPT`, or whatever a newer etcd adds. */
export interface Alarm {
  readonly memberId: string;
  readonly type: string;
}

/** An entry of the cluster's member list. */
export interface ClusterMember {
  readonly id: string;
  readonly name: string;
  readonly clientUrls: readonly string[];
  readonly peerUrls: readonly string[];
  readonly isLearner: boolean;
}

export interface MemberClientOptions {
  /** Bound for quick calls (status, alarms, member list, metrics). */
  readonly callTimeoutMs?: number;
}

const DEFAULT_CALL_TIMEOUT_MS = 10_000;

/** etcd3 speaks of member IDs as decimal uint64 strings; people and etcdctl use hex. */
export function hexId(decimal: string): string {
  return BigInt(decimal).toString(16);
}

function decimalId(hex: string): string {
  return BigInt(`0x${hex}`).toString(10);
}

/** Turns gRPC and etcd3 errors into a sentence a person can act on. */
export function describeEtcdError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const name = error instanceof Error ? error.constructor.name : "";
  if (name === "EtcdAuthenticationFailedError" || /authentication failed/i.test(message)) {
    return "authentication failed: check username and password";
  }
  if (name === "EtcdPermissionDeniedError" || /permission denied/i.test(message)) {
    return "permission denied: maintenance calls need a user with the root role";
  }
  if (/user name is empty|auth.*not enabled|invalid auth token/i.test(message)) {
    return `authentication problem: ${message}`;
  }
  if (/certificate|SSL|TLS|handshake|self[- ]signed/i.test(message)) {
    return `TLS handshake failed (${message}); check tls.ca, and tls.cert/tls.key when the member requires client certificates`;
  }
  if (/DEADLINE_EXCEEDED|deadline exceeded/i.test(message)) return "no answer before the deadline";
  if (/ECONNREFUSED|connection refused|No connection established|UNAVAILABLE/i.test(message)) {
    return `not reachable (${message.replace(/^\d+ UNAVAILABLE: /, "")}); is etcd running and listening on this URL?`;
  }
  return message;
}

/**
 * A client bound to exactly one member. etcd3's own client balances calls across hosts and retries on another,
 * which is wrong for maintenance: a defrag or status must reach the member it names. So each client gets one
 * host, and no retry or circuit breaker that could hide a failure or send a defrag twice.
 */
export class MemberClient {
  private readonly client: Etcd3;
  private readonly callTimeoutMs: number;

  constructor(
    readonly endpoint: string,
    private readonly access: Omit<EtcdAccess, "endpoints">,
    options: MemberClientOptions = {},
  ) {
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const clientOptions: IOptions = {
      hosts: [endpoint],
      dialTimeout: this.callTimeoutMs,
      faultHandling: { host: () => noop, global: noop },
    };
    if (access.tls) {
      clientOptions.credentials = {
        rootCertificate: Buffer.from(access.tls.ca ?? ""),
        certChain: access.tls.cert ? Buffer.from(access.tls.cert) : undefined,
        privateKey: access.tls.key ? Buffer.from(access.tls.key) : undefined,
      };
    }
    if (access.username !== undefined && access.password !== undefined) {
      clientOptions.auth = {
        username: access.username,
        password: access.password,
        callOptions: () => ({ deadline: this.deadline() }),
      };
    }
    this.client = new Etcd3(clientOptions);
  }

  private deadline(timeoutMs = this.callTimeoutMs): Date {
    return new Date(Date.now() + timeoutMs);
  }

  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof EtcdQuotaError) throw error;
      throw new MemberUnavailableError(this.endpoint, `${what}: ${describeEtcdError(error)}`);
    }
  }

  async status(): Promise<MemberStatus> {
    const status = await this.call("status", () => this.client.maintenance.status({ deadline: this.deadline() }));
    return {
      endpoint: this.endpoint,
      id: hexId(status.header.member_id),
      clusterId: hexId(status.header.cluster_id),
      version: status.version,
      dbSize: Number(status.dbSize),
      dbSizeInUse: Number(status.dbSizeInUse),
      leaderId: hexId(status.leader),
      isLearner: Boolean(status.isLearner),
      revision: Number(status.header.revision),
      raftTerm: Number(status.raftTerm),
      raftIndex: Number(status.raftIndex),
      errors: status.errors ?? [],
    };
  }

  /** The cluster's alarms as this member knows them. */
  async alarms(): Promise<Alarm[]> {
    const response = await this.call("alarm list", () =>
      this.client.maintenance.alarm({ action: AlarmAction.Get }, { deadline: this.deadline() }),
    );
    return response.alarms.map((alarm) => ({ memberId: hexId(alarm.memberID), type: alarmName(alarm.alarm) }));
  }

  /**
   * Clears NOSPACE for one member. Always names the member and the alarm: an empty request would clear every alarm
   * of every member, CORRUPT included.
   */
  async disarmNoSpace(memberId: string): Promise<void> {
    await this.call(`alarm disarm NOSPACE of ${memberId}`, () =>
      this.client.maintenance.alarm(
        { action: AlarmAction.Deactivate, memberID: decimalId(memberId), alarm: AlarmType.Nospace },
        { deadline: this.deadline() },
      ),
    );
  }

  async members(): Promise<ClusterMember[]> {
    const response = await this.call("member list", () =>
      this.client.cluster.memberList({}, { deadline: this.deadline() }),
    );
    return response.members.map((member) => ({
      id: hexId(member.ID),
      name: member.name,
      clientUrls: member.clientURLs ?? [],
      peerUrls: member.peerURLs ?? [],
      isLearner: Boolean(member.isLearner),
    }));
  }

  /** Compacts the keyspace up to `revision`; `physical` waits until the space is really free in the backend. */
  async compact(revision: number, timeoutMs: number): Promise<void> {
    await this.call(`compact to revision ${revision}`, () =>
      this.client.kv.compact({ revision, physical: true }, { deadline: this.deadline(timeoutMs) }),
    );
  }

  async put(key: string, value: string): Promise<void> {
    await this.call(`put ${key}`, () =>
      this.client.put(key).value(value).options({ deadline: this.deadline() }).exec(),
    );
  }

  async defragment(timeoutMs: number): Promise<void> {
    await this.call("defragment", () => this.client.maintenance.defragment({ deadline: this.deadline(timeoutMs) }));
  }

  /** Hands leadership to `targetId`; etcd only accepts this on the current leader. */
  async moveLeader(targetId: string, timeoutMs: number): Promise<void> {
    await this.call(`move leader to ${targetId}`, () =>
      this.client.maintenance.moveLeader({ targetID: decimalId(targetId) }, { deadline: this.deadline(timeoutMs) }),
    );
  }

  async metrics(): Promise<MemberMetrics> {
    const text = await this.call("metrics", () => this.fetchText("/metrics"));
    return memberMetricsFrom(text);
  }

  private fetchText(path: string): Promise<string> {
    const url = new URL(path, this.endpoint);
    const tls = this.access.tls;
    const options: https.RequestOptions = { timeout: this.callTimeoutMs };
    if (url.protocol === "https:") {
      Object.assign(options, { ca: tls?.ca, cert: tls?.cert, key: tls?.key });
    }
    const transport = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.get(url, options, (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () =>
          response.statusCode === 200
            ? resolve(body)
            : reject(new Error(`GET ${path} answered HTTP ${response.statusCode}`)),
        );
        response.on("error", reject);
      });
      request.on("timeout", () => request.destroy(new Error("DEADLINE_EXCEEDED")));
      request.on("error", reject);
    });
  }

  close(): void {
    this.client.close();
  }
}

function alarmName(alarm: string | number): string {
  if (alarm === "Nospace" || alarm === AlarmType.Nospace) return "NOSPACE";
  if (alarm === "Corrupt" || alarm === AlarmType.Corrupt) return "CORRUPT";
  return String(alarm).toUpperCase();
}
