import * as http from "http";
import * as https from "https";
import type { CallOptions, ClientReadableStream, ServiceClientConstructor } from "@grpc/grpc-js";
import { noop } from "cockatiel";
import type { IOptions, ISnapshotResponse, IStatusResponse } from "etcd3";
import {
  AlarmAction,
  AlarmType,
  castGrpcError,
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
} from "etcd3";
import { formatDuration } from "../values/duration";
import {
  EtcdAuthError,
  EtcdDeadlineError,
  EtcdNoSpaceError,
  EtcdPermissionError,
  EtcdQuotaError,
  EtcdTlsError,
  EtcdUnreachableError,
  MemberUnavailableError,
  NotEtcdError,
  OversizedAnswerError,
  QuotaReportsDisagreeError,
} from "../errors";
import { formatSize } from "../values/size";
import type { EtcdAccess, TlsInput } from "../inputs/access";
import type { MemberMetrics } from "../types/observation";
import { memberMetricsFrom } from "./metrics";
import { dbSizeQuotaOf } from "./status-wire";
import type { MemberApi } from "../run/seams";
import type { Alarm, ClusterMember, MemberStatus } from "../types/observation";

export interface MemberClientOptions {
  /** Bound for quick calls (status, alarms, member list, metrics). */
  readonly callTimeoutMs?: number;
  /** What sets that bound, for the message when a call runs out of it. @default "callTimeout" */
  readonly callTimeoutBoundBy?: string;
}

const DEFAULT_CALL_TIMEOUT_MS = 10_000;

/**
 * The most of a `/metrics` page read from a member. etcd's page is about 150 KB (146 KB measured on a fresh 3.4.23
 * member; it grows with gRPC methods and histogram buckets, not with the data), so 4 MiB leaves more than 25 times
 * that for a newer release or a proxy adding its own series, while a member that never stops sending holds at most
 * that much of this machine's memory.
 */
export const METRICS_MAX_BYTES = 4 * 1024 ** 2;

/** etcd3 speaks of member IDs as decimal uint64 strings; people and etcdctl use hex. */
function hexId(decimal: string): string {
  return BigInt(decimal).toString(16);
}

function decimalId(hex: string): string {
  return BigInt(`0x${hex}`).toString(10);
}

/** What the caller knows that the error does not say: which credentials were offered. */
export interface EtcdErrorContext {
  /** The etcd user the call ran as, when one was given. */
  readonly username?: string;
  /** Whether a client certificate was offered (`tls.cert`). */
  readonly clientCert?: boolean;
  /** Whether a CA was given (`tls.ca`); without one the machine's own CAs are used. */
  readonly ca?: boolean;
  /** The call's bound, for the message when it ran out. */
  readonly timeoutMs?: number;
  /** What sets that bound: the input that changes it (`callTimeout`), or its rule. */
  readonly boundBy?: string;
}

/**
 * The readable part of a gRPC or Node TLS error message: without the status prefix (`14 UNAVAILABLE: No connection
 * established. Last error: `), grpc-js's timestamp and resolution note, and OpenSSL's internal error codes and source
 * locations, so `...:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/...:SSL alert number 116`
 * becomes `TLS alert "certificate required" (116)`.
 */
function grpcErrorDetail(message: string): string {
  const alert = /alert ([a-z ]+?):[^\n]*?SSL alert number (\d+)/.exec(message) ?? /alert ([a-z ]+)/.exec(message);
  if (alert) return `TLS alert "${alert[1].trim()}"${alert[2] ? ` (${alert[2]})` : ""}`;
  return (
    message
      .replace(/^\d+ [A-Z_]+: /, "")
      .replace(/No connection established\. Last error: /, "")
      .replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/g, "")
      .replace(/\.?\s*Resolution note:[\s\S]*$/, "")
      .replace(/^(?:Error: )+/, "")
      .replace(/^etcdserver: /, "")
      .trim()
      // gRPC's word when a channel in back-off after a refused connection is asked again: it knows no reason.
      .replace(/^null$/, "no connection established")
  );
}

// Verification errors Node's TLS raises on this side, about the member's certificate chain.
const SERVER_NOT_TRUSTED =
  /unable to verify the first certificate|unable to get (?:local )?issuer certificate|self[- ]signed certificate|certificate signature failure|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_SIGNATURE_FAILURE/;
// Alerts the member sends when it refuses the client's certificate (or the lack of one): Go sends "bad certificate"
// (42) for both before Go 1.21, "certificate required" (116) and "unknown ca" (48) after.
const CLIENT_CERT_REFUSED =
  /alert (?:bad certificate|certificate required|unknown ca|certificate unknown|unsupported certificate|certificate expired|certificate revoked|access denied)|SSL alert number (?:42|43|44|45|46|48|49|116)\b/;

type MemberErrorClass = new (endpoint: string, detail: string, input?: string) => MemberUnavailableError;

/** What an etcd3 or gRPC error means: its class, a sentence a person can act on, and the input that fixes it. */
interface Diagnosis {
  readonly kind: MemberErrorClass;
  readonly detail: string;
  readonly input?: string;
}

/**
 * Maps an etcd3 or gRPC error once to the project's classes: what went wrong in plain words, the input to fix, and
 * the short reason etcd or TLS gave, never the whole gRPC dump. etcd3 has classes for etcd's own refusals; TLS and
 * connection failures reach it only as gRPC UNAVAILABLE with Node's or OpenSSL's text, so those are told apart by
 * that text. `context` says which credentials were offered, which the error itself cannot (a member that wants a
 * certificate sends the same alert for none and a wrong one).
 */
function diagnose(error: unknown, context: EtcdErrorContext): Diagnosis {
  const message = error instanceof Error ? error.message : String(error);
  const detail = grpcErrorDetail(message);
  const user = context.username === undefined ? "" : ` "${context.username}"`;
  const forUser = user ? ` for user${user}` : context.clientCert ? " for the user the client certificate names" : "";
  if (error instanceof EtcdAuthenticationFailedError || /authentication failed/i.test(message)) {
    return {
      kind: EtcdAuthError,
      input: "password",
      detail: `authentication failed: etcd knows no user${user} with that password; check username and password`,
    };
  }
  if (/authentication is not enabled/i.test(message)) {
    return {
      kind: EtcdAuthError,
      input: "username",
      detail: "username and password are set but this cluster does not have auth enabled; leave them out",
    };
  }
  if (error instanceof EtcdPermissionDeniedError || /permission denied/i.test(message)) {
    return {
      kind: EtcdPermissionError,
      input: context.username === undefined && context.clientCert ? "tls.cert" : "username",
      detail:
        `permission denied${forUser}: maintenance needs a user with the root role (every etcd lets only root ` +
        "defragment; newer releases, e.g. 3.5.30, also only root read status, compact, move the leader or disarm " +
        "alarms), and the cluster lock needs write access to /pulumi-etcd-quota/",
    };
  }
  if (/user name is empty/i.test(message)) {
    return {
      kind: EtcdAuthError,
      input: "username",
      detail:
        "this cluster has auth enabled and the request named no user: set username and password (or present a " +
        "client certificate whose common name is the user, to members started with --client-cert-auth)",
    };
  }
  if (
    error instanceof EtcdInvalidAuthTokenError ||
    /invalid auth token|auth: revision in header is old/i.test(message)
  ) {
    return {
      kind: EtcdAuthError,
      detail: `etcd refused the auth token (${detail}); it expired or auth changed meanwhile: run again`,
    };
  }
  if (/Hostname\/IP does not match certificate|ERR_TLS_CERT_ALTNAME_INVALID/.test(message)) {
    return {
      kind: EtcdTlsError,
      input: "endpoint",
      detail: `TLS: the member's certificate is not issued for this address (${detail}); use a host name or IP its certificate lists`,
    };
  }
  if (/certificate has expired|CERT_HAS_EXPIRED|certificate is not yet valid|CERT_NOT_YET_VALID/.test(message)) {
    return {
      kind: EtcdTlsError,
      detail: `TLS: the member's certificate is outside its validity period (${detail})`,
    };
  }
  if (SERVER_NOT_TRUSTED.test(message)) {
    return {
      kind: EtcdTlsError,
      input: "tls.ca",
      detail:
        context.ca === false
          ? `TLS: the member's certificate is not signed by a CA this machine trusts (${detail}); set tls.ca to the CA that signed the members' certificates`
          : `TLS: the member's certificate is not signed by the CA in tls.ca (${detail}); set tls.ca to the CA that signed the members' certificates`,
    };
  }
  if (CLIENT_CERT_REFUSED.test(message)) {
    return {
      kind: EtcdTlsError,
      input: "tls.cert",
      detail: context.clientCert
        ? `TLS: the member refused the client certificate in tls.cert (${detail}); it must be signed by a CA the member trusts (its --trusted-ca-file), be unexpired and allow client authentication`
        : `TLS: the member requires a client certificate (it runs with --client-cert-auth) and none was given (${detail}); set tls.cert and tls.key`,
    };
  }
  if (
    /wrong version number|packet length too long|WRONG_VERSION_NUMBER|disconnected before secure TLS connection/.test(
      message,
    )
  ) {
    return {
      kind: EtcdTlsError,
      input: "endpoint",
      detail: `TLS: the member does not answer TLS on this port (${detail}); use http:// for it, or give its https:// client URL`,
    };
  }
  if (/certificate|SSL|TLS|handshake/i.test(message)) {
    return {
      kind: EtcdTlsError,
      input: "tls.ca",
      detail: `TLS handshake failed (${detail}); check tls.ca, and tls.cert/tls.key when the member requires client certificates`,
    };
  }
  if (error instanceof GRPCDeadlineExceededError || /DEADLINE_EXCEEDED|deadline exceeded/i.test(message)) {
    const bound =
      context.timeoutMs === undefined
        ? ""
        : ` within ${formatDuration(context.timeoutMs)}${context.boundBy ? ` (${context.boundBy})` : ""}`;
    return { kind: EtcdDeadlineError, detail: `no answer${bound}` };
  }
  if (/mvcc: database space exceeded/.test(message)) {
    return { kind: EtcdNoSpaceError, detail: `the NOSPACE alarm refuses writes (${detail})` };
  }
  // grpc-js's word for an answer that is not HTTP/2: an HTTP/1 server, SSH, or etcd's peer or metrics port.
  if (/Protocol error/.test(message)) {
    return {
      kind: NotEtcdError,
      input: "endpoint",
      detail: `what answers here is not etcd's client API (${detail}); give the member's client URL (--advertise-client-urls, usually port 2379)`,
    };
  }
  if (/ECONNREFUSED|connection refused|No connection established|UNAVAILABLE/i.test(message)) {
    return {
      kind: EtcdUnreachableError,
      detail: `not reachable (${detail}); is etcd running and listening on this URL?`,
    };
  }
  return { kind: MemberUnavailableError, detail: message };
}

/**
 * The project's error for a failed call to `endpoint` (`doing` says which call), mapped once from etcd3's and
 * gRPC's errors; one of the project's errors passes through as it is.
 */
export function memberError(
  endpoint: string,
  doing: string,
  error: unknown,
  context: EtcdErrorContext = {},
): EtcdQuotaError {
  if (error instanceof EtcdQuotaError) return error;
  const { kind, detail, input } = diagnose(error, context);
  return new kind(endpoint, `${doing}: ${detail}`, input);
}

/**
 * etcd3's TLS credentials for `tls`. Without `tls.ca` the machine's own CAs are used (grpc-js's default roots); an
 * empty buffer would instead trust no CA at all.
 */
function grpcCredentials(tls: TlsInput): NonNullable<IOptions["credentials"]> {
  return {
    rootCertificate: (tls.ca ? Buffer.from(tls.ca) : undefined) as Buffer,
    certChain: tls.cert ? Buffer.from(tls.cert) : undefined,
    privateKey: tls.key ? Buffer.from(tls.key) : undefined,
  };
}

/** What {@link memberError} should know of how a client connected with `access`. */
export function errorContextOf(access: Omit<EtcdAccess, "endpoints">): EtcdErrorContext {
  return { username: access.username, clientCert: access.tls?.cert !== undefined, ca: access.tls?.ca !== undefined };
}

/** etcd3 options for `hosts` with `access`'s TLS and user; `loginCallOptions` bounds the login call. */
export function clientOptionsFor(
  hosts: readonly string[],
  access: Omit<EtcdAccess, "endpoints">,
  loginCallOptions?: () => { deadline: Date },
): IOptions {
  const options: IOptions = { hosts: [...hosts] };
  if (access.tls) options.credentials = grpcCredentials(access.tls);
  if (access.username !== undefined && access.password !== undefined) {
    options.auth = { username: access.username, password: access.password, callOptions: loginCallOptions };
  }
  return options;
}

/** etcd3's client with a Status call that also reads `dbSizeQuota`, which etcd3's bundled proto does not know. */
class StatusQuotaEtcd3 extends Etcd3 {
  async statusWithQuota(options: CallOptions): Promise<IStatusResponse & { dbSizeQuota: number | undefined }> {
    try {
      return await this.rawStatus(options);
    } catch (error) {
      if (!(error instanceof EtcdInvalidAuthTokenError)) throw error;
      // A restarted member forgets the tokens it issued; etcd3's own call logs in again, then the raw call works.
      await this.maintenance.status(options);
      return this.rawStatus(options);
    }
  }

  /**
   * Maintenance.Snapshot as a readable stream. etcd3's own `maintenance.snapshot()` passes the auth token where
   * gRPC expects call options, so a cluster with auth would refuse it as anonymous.
   */
  snapshotStream(): Promise<ClientReadableStream<ISnapshotResponse>> {
    return this.pool.withConnection("Maintenance", ({ client, metadata }) => {
      const method = (client.constructor as ServiceClientConstructor).service.Snapshot;
      return client.makeServerStreamRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize as (bytes: Buffer) => ISnapshotResponse,
        {},
        metadata,
        {},
      );
    });
  }

  private rawStatus(options: CallOptions): Promise<IStatusResponse & { dbSizeQuota: number | undefined }> {
    return this.pool.withConnection(
      "Maintenance",
      ({ client, metadata }) =>
        new Promise((resolve, reject) => {
          const method = (client.constructor as ServiceClientConstructor).service.Status;
          client.makeUnaryRequest(
            method.path,
            method.requestSerialize,
            (bytes: Buffer) => ({
              ...(method.responseDeserialize(bytes) as IStatusResponse),
              dbSizeQuota: dbSizeQuotaOf(bytes),
            }),
            {},
            metadata,
            options,
            (error, response) => (error ? reject(castGrpcError(error)) : resolve(response!)),
          );
        }),
    );
  }
}

/**
 * A client bound to exactly one member. etcd3's own client balances calls across hosts and retries on another,
 * which is wrong for maintenance: a defrag or status must reach the member it names. So each client gets one
 * host, and no retry or circuit breaker that could hide a failure or send a defrag twice.
 */
export class MemberClient implements MemberApi {
  private readonly client: StatusQuotaEtcd3;
  private readonly callTimeoutMs: number;
  private readonly callTimeoutBoundBy: string;

  constructor(
    readonly endpoint: string,
    private readonly access: Omit<EtcdAccess, "endpoints">,
    options: MemberClientOptions = {},
  ) {
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.callTimeoutBoundBy = options.callTimeoutBoundBy ?? "callTimeout";
    this.client = new StatusQuotaEtcd3({
      ...clientOptionsFor([endpoint], access, () => ({ deadline: this.deadline() })),
      dialTimeout: this.callTimeoutMs,
      faultHandling: { host: () => noop, global: noop },
    });
  }

  private deadline(timeoutMs = this.callTimeoutMs): Date {
    return new Date(Date.now() + timeoutMs);
  }

  private async call<T>(
    what: string,
    run: () => Promise<T>,
    timeoutMs = this.callTimeoutMs,
    boundBy = this.callTimeoutBoundBy,
  ): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw memberError(this.endpoint, what, error, { ...errorContextOf(this.access), timeoutMs, boundBy });
    }
  }

  async status(): Promise<MemberStatus> {
    const status = await this.call("status", () => this.client.statusWithQuota({ deadline: this.deadline() }));
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
      dbSizeQuota: status.dbSizeQuota,
    };
  }

  /**
   * Status and metrics read together, the quota in the metrics being the one in effect: Status's `dbSizeQuota`
   * where the member reports it (3.6+), else the metric. When both report a quota and they differ, nothing the
   * project computes from either could be trusted, so it throws {@link QuotaReportsDisagreeError}.
   */
  async statusAndMetrics(): Promise<{ status: MemberStatus; metrics: MemberMetrics }> {
    // Both asked at once; Status's answer is awaited first, so its error is the one reported (a TLS or auth refusal,
    // or no etcd at all says more than an HTTP error on /metrics) and a member that refuses it fails at once.
    const asked = this.metrics();
    asked.catch(() => undefined);
    const status = await this.status();
    const metrics = await asked;
    const fromStatus = status.dbSizeQuota;
    if (fromStatus === undefined) return { status, metrics };
    if (metrics.quotaBytes !== undefined && metrics.quotaBytes !== fromStatus) {
      throw new QuotaReportsDisagreeError(
        this.endpoint,
        `its Status reports the quota ${formatSize(fromStatus)} but its metric etcd_server_quota_backend_bytes says ` +
          `${formatSize(metrics.quotaBytes)}; one of them is wrong (a proxy in front of the metrics, or an etcd bug), ` +
          "so nothing was changed",
      );
    }
    return { status, metrics: { ...metrics, quotaBytes: fromStatus } };
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

  /**
   * Compacts the keyspace up to `revision`; `physical` waits until the space is really free in the backend. Checks
   * first that the user may run maintenance ({@link requireRootRole}): etcd up to 3.5.2x lets any user compact but
   * only root defragment, and a compaction whose defrags are then refused would leave the run half done.
   */
  async compact(revision: number, timeoutMs: number, boundBy?: string): Promise<void> {
    await this.requireRootRole("nothing was compacted");
    await this.call(
      `compact to revision ${revision}`,
      () => this.client.kv.compact({ revision, physical: true }, { deadline: this.deadline(timeoutMs) }),
      timeoutMs,
      boundBy,
    );
  }

  /**
   * Fails unless the user has etcd's root role (or auth is off, or the client certificate's CN is a root user): asks
   * for the role list, which etcd answers only for root. Cheap, and changes nothing. Observed on 3.4.23 and 3.5.16:
   * Status, Alarm (list and disarm), MemberList, MoveLeader and Compact need no user at all, Defragment and Hash need
   * root; on 3.5.30 Status, Compact, MoveLeader and alarm disarm need root too, Alarm list and MemberList any user;
   * on 3.5.35 and 3.6.16 Compact, Defragment and MoveLeader need root, Status any user.
   */
  async requireRootRole(consequence: string): Promise<void> {
    try {
      await this.client.auth.roleList({ deadline: this.deadline() });
    } catch (error) {
      const { kind, detail, input } = diagnose(error, {
        ...errorContextOf(this.access),
        timeoutMs: this.callTimeoutMs,
        boundBy: this.callTimeoutBoundBy,
      });
      throw new kind(this.endpoint, `permission check: ${detail}; ${consequence}`, input);
    }
  }

  /**
   * Grants a lease bound to no key: a backend write that leaves no revision behind. A run that dies before
   * {@link revokeLease} leaves it to expire after `ttlSeconds`.
   */
  async grantLease(ttlSeconds: number): Promise<string> {
    const response = await this.call("lease grant", () =>
      this.client.leaseClient.leaseGrant({ TTL: ttlSeconds }, { deadline: this.deadline() }),
    );
    return response.ID;
  }

  async revokeLease(id: string): Promise<void> {
    await this.call("lease revoke", () =>
      this.client.leaseClient.leaseRevoke({ ID: id }, { deadline: this.deadline() }),
    );
  }

  async defragment(timeoutMs: number, boundBy?: string): Promise<void> {
    await this.call(
      "defragment",
      () => this.client.maintenance.defragment({ deadline: this.deadline(timeoutMs) }),
      timeoutMs,
      boundBy,
    );
  }

  /** Hands leadership to `targetId` (`targetName` in messages); etcd only accepts this on the current leader. */
  async moveLeader(targetId: string, timeoutMs: number, targetName = targetId, boundBy?: string): Promise<void> {
    await this.call(
      `move leader to ${targetName}`,
      () =>
        this.client.maintenance.moveLeader({ targetID: decimalId(targetId) }, { deadline: this.deadline(timeoutMs) }),
      timeoutMs,
      boundBy,
    );
  }

  /**
   * Streams the member's backend (Maintenance.Snapshot) into `write`, one chunk at a time and at the pace `write`
   * takes them. A stream that sends nothing for `stallMs` is cancelled.
   */
  async snapshot(write: (chunk: Buffer, remainingBytes: number) => Promise<void>, stallMs: number): Promise<void> {
    return this.call(
      "snapshot",
      async () => {
        const stream = await this.client.snapshotStream();
        let stalled = false;
        let timer: NodeJS.Timeout | undefined;
        const watch = () => {
          clearTimeout(timer);
          timer = setTimeout(() => {
            stalled = true;
            stream.cancel();
          }, stallMs);
        };
        watch();
        try {
          for await (const response of stream as AsyncIterable<ISnapshotResponse>) {
            watch();
            await write(response.blob, Number(response.remaining_bytes));
          }
        } catch (error) {
          throw stalled ? new GRPCDeadlineExceededError("no data") : castGrpcError(error as Error);
        } finally {
          clearTimeout(timer);
          stream.cancel();
        }
      },
      stallMs,
      "a stream that sends nothing for that long is given up",
    );
  }

  /**
   * The member's metrics, the whole fetch bounded by `timeoutMs` (not only the wait between two packets: a member
   * that drips a byte at a time would otherwise hold the run, and the cluster lock, as long as it likes) and the
   * body by {@link METRICS_MAX_BYTES}.
   */
  async metrics(timeoutMs = this.callTimeoutMs): Promise<MemberMetrics> {
    const text = await this.call("metrics", () => this.fetchText("/metrics", timeoutMs), timeoutMs);
    return memberMetricsFrom(text);
  }

  private fetchText(path: string, timeoutMs: number): Promise<string> {
    const url = new URL(path, this.endpoint);
    const tls = this.access.tls;
    const options: https.RequestOptions = { timeout: timeoutMs };
    if (url.protocol === "https:") {
      Object.assign(options, { ca: tls?.ca, cert: tls?.cert, key: tls?.key });
    }
    const transport = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (error: Error | undefined, text = "") => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        if (error) {
          request.destroy();
          reject(error);
        } else resolve(text);
      };
      const request = transport.get(url, options, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > METRICS_MAX_BYTES) {
            finish(
              new OversizedAnswerError(
                this.endpoint,
                `metrics: GET ${path} sent more than ${formatSize(METRICS_MAX_BYTES)} (etcd's page is about 150 KB); stopped reading it`,
              ),
            );
          } else chunks.push(chunk);
        });
        response.on("end", () =>
          response.statusCode === 200
            ? finish(undefined, Buffer.concat(chunks).toString("utf8"))
            : finish(new Error(`GET ${path} answered HTTP ${response.statusCode}`)),
        );
        response.on("error", finish);
      });
      // `timeout` above is the socket's idle bound; this one is the whole fetch's.
      const deadline = setTimeout(
        () =>
          finish(
            new EtcdDeadlineError(
              this.endpoint,
              `metrics: GET ${path} did not finish within ${formatDuration(timeoutMs)} (${this.callTimeoutBoundBy})`,
            ),
          ),
        timeoutMs,
      );
      request.on("timeout", () => finish(new Error("DEADLINE_EXCEEDED")));
      request.on("error", finish);
    });
  }

  close(): void {
    this.client.close();
  }
}

export function alarmName(alarm: string | number): string {
  if (alarm === "Nospace" || alarm === AlarmType.Nospace) return "NOSPACE";
  if (alarm === "Corrupt" || alarm === AlarmType.Corrupt) return "CORRUPT";
  return String(alarm).toUpperCase();
}
