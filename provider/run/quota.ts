import { createHash } from "node:crypto";
import { lookup } from "node:dns/promises";
import {
  backupPathFor,
  defaultRestartCommand,
  detectFormat,
  editorFor,
  formatOfContent,
  looksOf,
  specOf,
} from "../config";
import { lacksExperimentalFlags, removedFlagsIn, removedFlagsProblem } from "../config/removed-flags";
import { formatDuration } from "../values/duration";
import {
  EtcdQuotaError,
  HostError,
  InterruptedError,
  QuotaReportsDisagreeError,
  SnapshotError,
  UnsafeClusterError,
} from "../errors";
import type { ClusterObservation } from "../types/observation";
import { assertHealthy, canSpareOne, hasNoSpace, quorum, votingMembers } from "../plan/cluster";
import { acquireClusterLock } from "../etcd/lock";
import { disarmNoSpace, moveLeadershipAway } from "../etcd/operations";
import { pauseBetweenMembers } from "./pause";
import { takeSnapshot } from "../etcd/snapshot";
import type { Connection } from "../inputs/connection";
import { FIELDS as CONNECTION_FIELDS } from "../inputs/connection";
import { connectSsh } from "../hosts/ssh";
import type { Host } from "../hosts/host";
import { localHost } from "../hosts/local";
import { shellQuote } from "../hosts/shell";
import type { MemberFacts, QuotaPlan, QuotaStep } from "../plan/quota";
import { describeQuotaStep, planQuota } from "../plan/quota";
import type { WalkedStep } from "../plan/walk";
import { Walk } from "../plan/walk";
import type { MemberSpec, QuotaSettings } from "../inputs/quota";
import { formatSize } from "../values/size";
import type { Progress } from "./wait";
import { waitFor } from "./wait";
import type { ClusterApi, HostSource, RunSeams } from "./seams";
import type { QuotaMemberRecord, QuotaRecord } from "../types/quota";
import type { SnapshotRecord } from "../types/snapshot";

/** How long a rollback asks a member that did not come back for its process start time before restarting it. */
const ROLLBACK_PROBE_MS = 2_000;

/**
 * Everything that decides where a connection lands and as whom: the jump host (two members behind different jump
 * hosts may share a private address), the credentials, sudo. Hashed, so no credential is kept in a map key.
 */
function connectionKey(connection: Connection): string {
  // The fields' fixed order makes equal connections serialize equally, proxy included.
  return createHash("sha256")
    .update(JSON.stringify(connection, [...CONNECTION_FIELDS]))
    .digest("hex");
}

/** One connection per distinct connection setting for the length of one provider call. */
export class HostPool implements HostSource {
  private readonly hosts = new Map<string, Promise<Host>>();

  for(spec: MemberSpec): Promise<Host> {
    const connection = spec.connection;
    const key = connection ? connectionKey(connection) : "local";
    let host = this.hosts.get(key);
    if (!host) {
      host = connection ? connectSsh(connection) : Promise.resolve(localHost());
      this.hosts.set(key, host);
    }
    return host;
  }

  async close(): Promise<void> {
    const hosts = await Promise.allSettled(this.hosts.values());
    await Promise.all(hosts.map((h) => (h.status === "fulfilled" ? h.value.close() : undefined)));
  }
}

/** The cluster and every member's file, read before anything changes. */
export interface QuotaObservation {
  readonly cluster: ClusterObservation;
  readonly facts: readonly MemberFacts[];
  /** Files that could not be read or understood, as refusals naming the input. */
  readonly fileProblems: readonly { readonly field: string; readonly reason: string }[];
}

/** Reads every member's file, paired with `cluster`: a look just taken, or one taken here when none is given. */
export async function observeQuota(
  session: ClusterApi,
  hosts: HostSource,
  settings: QuotaSettings,
  taken?: ClusterObservation,
): Promise<QuotaObservation> {
  const cluster = taken ?? (await session.observe());
  const fileProblems: { field: string; reason: string }[] = [];
  const facts: MemberFacts[] = [];
  await Promise.all(
    settings.members.map(async (spec, i) => {
      try {
        const host = await hosts.for(spec);
        const { text, realPath } = await host.readFile(spec.configFile);
        const shown = formatOfContent(text);
        if (spec.format !== undefined && shown !== undefined && shown !== spec.format) {
          fileProblems.push({
            field: `members[${i}].format`,
            reason: `is "${spec.format}", but ${spec.configFile} is ${looksOf(shown)} ("${shown}"); the quota would be written where etcd does not read it`,
          });
          return;
        }
        const format = spec.format ?? detectFormat(spec.configFile, text);
        await specOf(format).checkBeforeChange?.(host, spec.configFile);
        const editor = editorFor(format);
        const reading = editor.read(text, spec.configFile);
        const live = cluster.members.find((m) => m.endpoint === spec.endpoint);
        facts[i] = {
          spec,
          realPath,
          format,
          configuredBytes: reading.bytes,
          location: reading.location,
          liveBytes: live?.metrics.quotaBytes,
          name: live?.name,
          id: live?.id,
          dbSize: live?.dbSize,
          isLeader: live?.isLeader ?? false,
        };
        // A restart from a file written for an older etcd would leave the member down (or silently without a
        // setting), whatever the quota: said before anything restarts.
        const removed = live !== undefined && lacksExperimentalFlags(live.version) ? removedFlagsIn(text) : [];
        if (removed.length > 0) {
          fileProblems.push({
            field: `members[${i}].configFile`,
            reason: removedFlagsProblem(spec.configFile, live!.version, removed),
          });
        }
        // The edit, in memory only, so that a file the editor reads but cannot change (a YAML flow mapping, a
        // manifest list on one line) fails the preview rather than the run, possibly after other members restarted.
        if (reading.bytes !== settings.quotaBytes && settings.quotaBytes > 0) {
          editor.write(text, settings.quotaBytes, spec.configFile);
        }
      } catch (error) {
        fileProblems.push({
          field: `members[${i}].configFile`,
          reason: error instanceof Error ? error.message : String(error),
        });
      }
    }),
  );
  fileProblems.push(...(await duplicates(settings, facts)));
  return { cluster, facts: facts.filter((f) => f !== undefined), fileProblems };
}

/**
 * Two entries for one member (`127.0.0.1` and `localhost`) or for one file (through a link or `..`) would edit and
 * restart it twice: refused, naming the entry that repeats the earlier one. Members are compared by the ID they
 * report, files by host address and the path with every link followed.
 */
async function duplicates(
  settings: QuotaSettings,
  facts: readonly (MemberFacts | undefined)[],
): Promise<{ field: string; reason: string }[]> {
  const problems: { field: string; reason: string }[] = [];
  const members = new Map<string, number>();
  const files = new Map<string, number>();
  for (const [i, fact] of facts.entries()) {
    if (fact === undefined) continue;
    const sameMember = fact.id === undefined ? undefined : members.get(fact.id);
    if (sameMember !== undefined) {
      problems.push({
        field: `members[${i}].endpoint`,
        reason: `${fact.spec.endpoint} is member ${fact.name} (ID ${fact.id}) again, already listed as members[${sameMember}] (${settings.members[sameMember].endpoint}); list each member once`,
      });
    } else if (fact.id !== undefined) members.set(fact.id, i);
    const file = `${await hostAddress(fact.spec)}\n${fact.realPath}`;
    const sameFile = files.get(file);
    if (sameFile !== undefined && sameMember === undefined) {
      problems.push({
        field: `members[${i}].configFile`,
        reason: `${fact.spec.configFile} is ${fact.realPath}, the file members[${sameFile}] already names; each member needs its own file`,
      });
    } else files.set(file, i);
  }
  return problems;
}

/** The host a member's file lives on, by address, so two names of one machine compare equal. */
async function hostAddress(spec: MemberSpec): Promise<string> {
  const connection = spec.connection;
  if (connection === undefined) return "local";
  const address = await lookup(connection.host).then(
    (found) => found.address,
    () => connection.host,
  );
  return `${address}:${connection.port}`;
}

/**
 * Files the plan would write but the provider may not replace: read-only (also for root: `chattr +i`, a read-only
 * mount) or in a folder it cannot write. Found before anything changes, so a run never restarts some members and
 * then stops at a file it cannot edit. `test -w` asks the kernel, as the user the edits would run as.
 */
async function unwritableFiles(
  hosts: HostSource,
  settings: QuotaSettings,
  observation: QuotaObservation,
  plan: QuotaPlan,
): Promise<{ field: string; reason: string }[]> {
  const writes = plan.steps.filter((step) => step.action === "write-and-restart");
  const refusals = await Promise.all(
    writes.map(async (step) => {
      const fact = observation.facts.find((f) => f.spec.endpoint === step.endpoint)!;
      const i = settings.members.indexOf(fact.spec);
      const field = `members[${i}].configFile`;
      const file = shellQuote(fact.spec.configFile);
      const probe = `f=$(readlink -f -- ${file}) || exit 2; [ -w "$f" ] || exit 3; [ -w "$(dirname -- "$f")" ] || exit 4`;
      try {
        const host = await hosts.for(fact.spec);
        const { code } = await host.run(probe, { timeoutMs: 30_000 });
        if (code === 0) return [];
        const what = code === 4 ? "its folder is not writable" : "the file is not writable (read-only or immutable)";
        return [{ field, reason: `${fact.spec.configFile} on ${host.label} cannot be edited: ${what}` }];
      } catch (error) {
        return [
          {
            field,
            reason: `cannot tell whether ${fact.spec.configFile} can be edited: ${error instanceof Error ? error.message : String(error)}`,
          },
        ];
      }
    }),
  );
  return refusals.flat();
}

/** Every refusal, file problems first: they are the ones a person fixes in the program. */
export async function refusalsOf(
  hosts: HostSource,
  settings: QuotaSettings,
  observation: QuotaObservation,
  plan: QuotaPlan,
): Promise<{ field: string; reason: string }[]> {
  return [
    ...observation.fileProblems,
    ...(await unwritableFiles(hosts, settings, observation, plan)),
    ...plan.refusals,
  ];
}

async function restart(host: Host, fact: MemberFacts, timeoutMs: number, progress: Progress): Promise<void> {
  const command = fact.spec.restartCommand ?? defaultRestartCommand(fact.format, fact.spec.configFile);
  if (command === "") {
    progress(`${fact.name}: waiting for the kubelet to restart it from the changed manifest`);
    return;
  }
  progress(`${fact.name}: restart with \`${command}\` on ${host.label}`);
  const result = await host.run(command, { timeoutMs });
  if (result.code !== 0) {
    const detail = (result.stderr || result.stdout).trim().split("\n").slice(-3).join(" / ");
    throw new HostError(
      `restart command \`${command}\` on ${host.label} exited with ${result.code}${detail ? `: ${detail}` : ""}`,
    );
  }
}

/**
 * Waits until the member has restarted (a new process start time) and answers with `expectedQuota` in effect, or,
 * with `expectedQuota` undefined, with any quota (after a rollback).
 */
async function waitUntilBack(
  session: ClusterApi,
  fact: MemberFacts,
  startedBefore: number | undefined,
  expectedQuota: number | undefined,
  timeoutMs: number,
): Promise<number | undefined> {
  const client = session.client(fact.spec.endpoint);
  let seen: number | undefined;
  try {
    return await waitFor(
      async () => {
        const { metrics } = await client.statusAndMetrics();
        if (startedBefore !== undefined && (metrics.processStartTime ?? 0) <= startedBefore) return undefined;
        seen = metrics.quotaBytes;
        return expectedQuota === undefined || metrics.quotaBytes === expectedQuota
          ? (metrics.quotaBytes ?? 0)
          : undefined;
      },
      {
        what: `${fact.name} to come back${expectedQuota === undefined ? "" : ` with quota ${formatSize(expectedQuota)}`}`,
        timeoutMs,
        boundBy: "restartTimeout",
        retryErrors: (error) => !(error instanceof QuotaReportsDisagreeError),
      },
    );
  } catch (error) {
    if (seen !== undefined && expectedQuota !== undefined && seen !== expectedQuota) {
      throw new EtcdQuotaError(
        `${fact.name} came back with quota ${formatSize(seen)}, not ${formatSize(expectedQuota)}: something overrides ${fact.spec.configFile} (a flag in the unit, ETCD_QUOTA_BACKEND_BYTES elsewhere, or --config-file)`,
      );
    }
    throw error;
  }
}

/**
 * Waits until every member answers with a leader elected, after `fact`'s member came back. When another member
 * stays down, says which and what that means for quorum: that is why the change stops there.
 */
async function waitForHealthyCluster(
  session: ClusterApi,
  fact: MemberFacts,
  timeoutMs: number,
): Promise<ClusterObservation> {
  try {
    return await waitFor(
      async () => {
        const observation = await session.observe();
        assertHealthy(observation, "go on");
        return observation;
      },
      { what: "every member to answer with a leader elected", timeoutMs, boundBy: "restartTimeout" },
    );
  } catch (error) {
    const now = await session.observe().catch(() => undefined);
    if (now === undefined || now.unreachable.length === 0) throw error;
    const down = now.unreachable.map(({ endpoint }) => {
      const member = now.memberList.find((m) => m.clientUrls.includes(endpoint));
      return member?.name ? `${member.name} (${endpoint})` : endpoint;
    });
    const voters = now.memberList.filter((m) => !m.isLearner).length;
    throw new UnsafeClusterError(
      `${fact.name} came back with the new quota, but then ${down.join(", ")} did not answer for ${formatDuration(timeoutMs)}: ` +
        `${votingMembers(now).length} of ${voters} voting members answer and quorum is ${quorum(voters)}, so ` +
        `restarting another member now could cost the cluster its quorum. Bring ${down.length === 1 ? "it" : "them"} back, then run again`,
    );
  }
}

/** A run's progress as it goes; becomes the record at the end or on failure. */
interface Ledger {
  readonly restarted: Set<string>;
  readonly backups: Map<string, string>;
  readonly alarmsDisarmed: string[];
  snapshot: SnapshotRecord | null;
}

/** What each member's file and process say now, with what the run did to it (`done`): the per-member outputs. */
export function memberRecords(
  settings: QuotaSettings,
  observation: QuotaObservation,
  done: (endpoint: string) => { readonly restarted: boolean; readonly backupPath: string | null },
): QuotaMemberRecord[] {
  return settings.members.map((spec) => {
    const fact = observation.facts.find((f) => f.spec.endpoint === spec.endpoint);
    return {
      endpoint: spec.endpoint,
      name: fact?.name ?? null,
      configFile: spec.configFile,
      format: fact?.format ?? spec.format ?? "systemd-unit",
      fileRead: fact !== undefined,
      configuredBytes: fact?.configuredBytes ?? null,
      liveBytes: fact?.liveBytes ?? null,
      ...done(spec.endpoint),
    };
  });
}

function recordFrom(settings: QuotaSettings, now: QuotaObservation, ledger: Ledger): QuotaRecord {
  return {
    quotaBytes: settings.quotaBytes,
    alarmsDisarmed: ledger.alarmsDisarmed,
    snapshot: ledger.snapshot,
    members: memberRecords(settings, now, (endpoint) => ({
      restarted: ledger.restarted.has(endpoint),
      backupPath: ledger.backups.get(endpoint) ?? null,
    })),
  };
}

/**
 * What the change did, as walked, and the last look at the cluster and every member's file, taken after the last
 * change: the outputs are built from it. A change stopped part way carries the same in its InterruptedError's
 * `done`, with no look when none could be taken.
 */
export interface QuotaRun {
  readonly record: QuotaRecord;
  /** Each member's step as the run reached it, with what became of it, in the plan's order. */
  readonly walked: readonly WalkedStep<QuotaStep>[];
  readonly observation: QuotaObservation | undefined;
}

/**
 * The rolling change: refuse anything unsafe before touching a file, then one member at a time, followers first
 * and the leader last after handing leadership away: write the file (backup kept), restart, wait until the member
 * is back with the declared quota in effect, check the whole cluster. A member that does not come back gets its
 * file restored and is restarted again, and nothing else is touched. Finally NOSPACE is disarmed where the larger
 * quota leaves room. `first` is a look at the cluster just taken, which the run then does not take again.
 */
export async function runQuotaChange(
  session: ClusterApi,
  hosts: HostSource,
  settings: QuotaSettings,
  progress: Progress,
  seams: RunSeams = {},
  first?: ClusterObservation,
): Promise<QuotaRun> {
  const observation = await observeQuota(session, hosts, settings, first);
  const plan = planQuota(observation.cluster, observation.facts, settings);
  const refusals = await refusalsOf(hosts, settings, observation, plan);
  if (refusals.length > 0) {
    throw new UnsafeClusterError(
      `refusing to change the quota: ${refusals.map((r) => `${r.field}: ${r.reason}`).join("; ")}`,
    );
  }
  for (const warning of plan.warnings) progress(`warning: ${warning}`);
  const ledger: Ledger = { restarted: new Set(), backups: new Map(), alarmsDisarmed: [], snapshot: null };
  const walk = new Walk<QuotaStep>();
  let current: number | undefined;
  // The look after the last change; undefined until a member changed.
  let latest: ClusterObservation | undefined;
  let disarmed = false;
  const takeLock = seams.takeLock ?? acquireClusterLock;
  const lock = await takeLock(
    settings.access,
    {
      holder: "EtcdQuota",
      waitMs: settings.lockTimeoutMs,
      endpoints: votingMembers(observation.cluster).map((m) => m.endpoint),
    },
    progress,
  );
  try {
    if (plan.snapshot) {
      ledger.snapshot = await takeSnapshot(session, observation.cluster, plan.snapshot, progress);
    }
    let restarted: string | undefined;
    for (const [i, step] of plan.steps.entries()) {
      current = i;
      walk.reach([step]);
      if (step.action !== "none" && restarted) {
        await pauseBetweenMembers(settings.pauseBetweenMembersMs, restarted, step.member, progress);
      }
      progress(describeQuotaStep(step));
      if (step.action !== "none") {
        const fact = observation.facts.find((f) => f.spec.endpoint === step.endpoint)!;
        latest = await changeMember(session, hosts, settings, fact, step, ledger, progress);
        restarted = step.member;
      }
      walk.done(step);
    }
    current = undefined;
    const after = latest ?? (await session.observe());
    if (settings.disarmNoSpace && hasNoSpace(after)) {
      ledger.alarmsDisarmed.push(...(await disarmNoSpace(session, after, settings.disarmBelow, progress)));
      disarmed = true;
    }
    latest = after;
  } catch (error) {
    // Nothing has changed yet: a plain failure, not a run stopped part way.
    if (error instanceof SnapshotError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    const now = await observeQuota(session, hosts, settings).catch(() => undefined);
    const record = now
      ? recordFrom(settings, now, ledger)
      : {
          quotaBytes: settings.quotaBytes,
          alarmsDisarmed: ledger.alarmsDisarmed,
          snapshot: ledger.snapshot,
          members: [],
        };
    const states = record.members
      .map((m) => {
        // A file that could not be read (its host unreachable) is not a file without a quota.
        const file = !m.fileRead ? "not read" : m.configuredBytes === null ? "unset" : formatSize(m.configuredBytes);
        return `${m.name ?? m.endpoint}: file ${file}, running ${m.liveBytes === null ? "unknown" : formatSize(m.liveBytes)}`;
      })
      .join("; ");
    const where = current === undefined ? "after the last member" : `at ${plan.steps[current].member}`;
    const walked = walk.stopped(current === undefined ? [] : plan.steps.slice(current + 1));
    const done: QuotaRun = { record, walked, observation: now };
    throw new InterruptedError(`quota change stopped ${where}: ${reason}. Members now: ${states}`, done, error);
  } finally {
    await lock.release();
  }
  // The files as they are now, paired with the look after the last change unless a disarm changed the cluster since.
  const final = await observeQuota(session, hosts, settings, disarmed ? undefined : latest);
  const record = recordFrom(settings, final, ledger);
  progress(
    `done: ${record.members.map((m) => `${m.name} runs ${m.liveBytes === null ? "?" : formatSize(m.liveBytes)}`).join(", ")}`,
  );
  return { record, walked: walk.finished(), observation: final };
}

async function changeMember(
  session: ClusterApi,
  hosts: HostSource,
  settings: QuotaSettings,
  fact: MemberFacts,
  step: QuotaStep,
  ledger: Ledger,
  progress: Progress,
): Promise<ClusterObservation> {
  let observation = await session.observe();
  assertHealthy(observation, `restart ${fact.name}`);
  if (!canSpareOne(observation)) {
    throw new UnsafeClusterError(
      `refusing to restart ${fact.name}: the others would not keep quorum with one to spare`,
    );
  }
  const member = observation.members.find((m) => m.endpoint === fact.spec.endpoint)!;
  if (step.moveLeader && member.isLeader) {
    observation = await moveLeadershipAway(
      session,
      observation,
      member,
      "so the cluster keeps a leader while it restarts",
      progress,
    );
  }
  const host = await hosts.for(fact.spec);
  const file = fact.spec.configFile;
  // Before the write: a kubelet restarts the member as soon as its manifest changes, and asking after the write can
  // meet the member going down ("socket hang up").
  const startedBefore = (await session.client(fact.spec.endpoint).metrics()).processStartTime;
  let backupPath: string | undefined;
  if (step.action === "write-and-restart") {
    const { text } = await host.readFile(file);
    const edited = editorFor(fact.format).write(text, settings.quotaBytes, file);
    backupPath = (await host.writeFileAtomic(file, edited, { backupPath: backupPathFor(fact.format, file) }))
      .backupPath;
    ledger.backups.set(fact.spec.endpoint, backupPath);
    progress(`${fact.name}: wrote ${file} (previous kept at ${backupPath})`);
    await pruneBackups(host, fact, backupPath, settings.keepBackups, progress);
  }
  const started = Date.now();
  try {
    await restart(host, fact, settings.restartTimeoutMs, progress);
    ledger.restarted.add(fact.spec.endpoint);
    await waitUntilBack(session, fact, startedBefore, settings.quotaBytes, settings.restartTimeoutMs);
  } catch (error) {
    if (backupPath === undefined) throw error;
    // A rollback that fails too must not hide why it was needed: both go into the message.
    await rollBack(session, host, fact, backupPath, settings, progress).catch((rollbackError: unknown) => {
      const first = error instanceof Error ? error.message : String(error);
      throw new EtcdQuotaError(`${first}; rolling back: ${(rollbackError as Error).message}`);
    });
    throw error;
  }
  // The member is back with the new quota from its new file. A problem elsewhere is no reason to roll it back, and
  // restarting it again while another member is down would take the cluster below quorum.
  const healthy = await waitForHealthyCluster(session, fact, settings.restartTimeoutMs);
  progress(
    `${fact.name}: back with quota ${formatSize(settings.quotaBytes)} in effect after ${formatDuration(Date.now() - started)}`,
  );
  return healthy;
}

/**
 * Deletes the file's backups beyond the newest `keep`, the one just made included. Old backups are housekeeping: a
 * failure here is said and the run goes on.
 */
async function pruneBackups(
  host: Host,
  fact: MemberFacts,
  backupPath: string,
  keep: number,
  progress: Progress,
): Promise<void> {
  const file = fact.spec.configFile;
  try {
    const { deleted, kept } = await host.pruneBackups(backupPath, keep);
    if (deleted.length > 0) {
      const backups = deleted.length === 1 ? "backup" : "backups";
      progress(`${fact.name}: removed ${deleted.length} older ${backups} of ${file}, keeping the newest ${keep}`);
    }
    for (const { path: left, reason } of kept) {
      progress(`${fact.name}: old backup ${left} was not removed: ${reason}`);
    }
  } catch (error) {
    progress(
      `${fact.name}: old backups of ${file} were not removed: ${error instanceof Error ? error.message : error}`,
    );
  }
}

async function rollBack(
  session: ClusterApi,
  host: Host,
  fact: MemberFacts,
  backupPath: string,
  settings: QuotaSettings,
  progress: Progress,
): Promise<void> {
  progress(`${fact.name}: did not come back as expected; restoring ${fact.spec.configFile} from ${backupPath}`);
  const why = (error: unknown) => (error instanceof Error ? error.message : String(error));
  try {
    await host.restore(fact.spec.configFile, backupPath);
  } catch (error) {
    throw new EtcdQuotaError(`could not restore ${fact.spec.configFile} from ${backupPath}: ${why(error)}`);
  }
  try {
    // A member hung at start answers nothing: do not spend a call timeout on it, the restart is what matters.
    const startedBefore = await session
      .client(fact.spec.endpoint)
      .metrics(ROLLBACK_PROBE_MS)
      .then((m) => m.processStartTime)
      .catch(() => undefined);
    await restart(host, fact, settings.restartTimeoutMs, progress);
    await waitUntilBack(session, fact, startedBefore, undefined, settings.restartTimeoutMs);
  } catch (error) {
    throw new EtcdQuotaError(
      `${fact.spec.configFile} was restored from ${backupPath}, but ${fact.name} did not come back after a restart with it either: ${why(error)}`,
    );
  }
  progress(`${fact.name}: rolled back and running again`);
}
