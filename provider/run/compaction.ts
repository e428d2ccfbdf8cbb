import { formatDuration } from "../values/duration";
import { EtcdQuotaError, InterruptedError, SnapshotError } from "../errors";
import type { ClusterObservation, ObservedMember } from "../types/observation";
import { assertHealthy, hasNoSpace, votingMembers } from "../plan/cluster";
import { acquireClusterLock } from "../etcd/lock";
import { disarmNoSpace, moveLeadershipAway } from "../etcd/operations";
import { pauseBetweenMembers } from "./pause";
import { takeSnapshot } from "../etcd/snapshot";
import type { CompactionPlan, CompactionStep } from "../plan/compaction";
import {
  compactionPlan,
  compactStep,
  describeStep,
  disarmSteps,
  memberSteps,
  SNAPSHOT_REASON,
  stepsOf,
} from "../plan/compaction";
import type { WalkedStep } from "../plan/walk";
import { Walk } from "../plan/walk";
import type { CompactionSettings } from "../inputs/compaction";
import { formatSize } from "../values/size";
import type { Progress } from "./wait";
import { sleep, waitFor } from "./wait";
import type { ClusterApi, RunSeams } from "./seams";
import type { CompactionRecord, MemberRecord } from "../types/compaction";
import type { SnapshotRecord } from "../types/snapshot";

/**
 * What a run did and the last look it took at the cluster, after its last change: the outputs are built from that
 * look rather than from another. A run stopped part way carries the same, in its InterruptedError's `done`.
 */
export interface CompactionRun {
  readonly record: CompactionRecord;
  /** The plan as walked: each step as the run decided it at its stage, with what became of it, in order. */
  readonly walked: readonly WalkedStep<CompactionStep>[];
  readonly observation: ClusterObservation;
}

/** A run's progress as it goes; turned into a CompactionRecord at the end or on failure. */
interface Ledger {
  clusterId: string;
  compactedRevision: number | null;
  alarmsDisarmed: string[];
  before: Map<string, ObservedMember>;
  defrag: Map<string, { defragmented: boolean; reason: string }>;
  readonly walk: Walk<CompactionStep>;
  snapshot: SnapshotRecord | null;
}

/** How {@link defragTimeoutMs} is set, for timeout messages: no input changes it. */
const DB_SIZE_BOUND = "60s plus 1s per 5 MiB of the largest DB file";

/** A bound that grows with the DB: measured here, defrag runs at ~50 MiB/s of live data; allow ten times longer. */
export function defragTimeoutMs(dbSize: number): number {
  return 60_000 + Math.ceil(dbSize / (5 * 1024 ** 2)) * 1000;
}

/**
 * Two reads or writes this far apart straddle at least one backend commit: etcd commits every 100 ms
 * (`--backend-batch-interval`), and 50 ms more absorb a timer that fires late.
 */
const BACKEND_COMMIT_SPACING_MS = 150;

/** Outlives the scratch lease's grant-to-revoke pause by far; only a run that dies in between needs it. */
const SCRATCH_LEASE_TTL_SECONDS = 10;

/** The member's port refuses connections: no etcd process is running there. */
function isRefused(error: unknown): boolean {
  return /ECONNREFUSED|connection refused/i.test(error instanceof Error ? error.message : String(error));
}

function isAlreadyCompacted(error: unknown): boolean {
  return error instanceof Error && /required revision has been compacted/.test(error.message);
}

function recordOf(ledger: Ledger, latest: ClusterObservation | undefined): CompactionRecord {
  const now = new Map((latest?.members ?? []).map((m) => [m.id, m]));
  const members = [...ledger.before.values()].map((before): MemberRecord => {
    const after = now.get(before.id) ?? before;
    const defrag = ledger.defrag.get(before.id) ?? {
      defragmented: false,
      reason: before.isLearner ? "skipped: a learner (maintenance only defragments voting members)" : "not reached",
    };
    return {
      name: before.name,
      id: before.id,
      endpoint: before.endpoint,
      leader: after.isLeader,
      learner: before.isLearner,
      dbSizeBefore: before.dbSize,
      dbSizeAfter: after.dbSize,
      dbSizeInUse: after.dbSizeInUse,
      quotaBytes: after.metrics.quotaBytes ?? null,
      defragmented: defrag.defragmented,
      reason: defrag.reason,
    };
  });
  return {
    clusterId: ledger.clusterId,
    compactedRevision: ledger.compactedRevision,
    reclaimedBytes: members.reduce((sum, m) => sum + Math.max(0, m.dbSizeBefore - m.dbSizeAfter), 0),
    alarmsDisarmed: ledger.alarmsDisarmed,
    members,
    executed: ledger.walk.carriedOut.map(describeStep),
    snapshotTaken: ledger.snapshot,
  };
}

/**
 * The runbook, safely: health gate, one physical compaction, defragment one member at a time (followers first, the
 * leader last after handing leadership away), then disarm NOSPACE only where it will not come straight back. The
 * run walks `plan` (made here from a first look when not given), deciding each member's stage and the disarm stage
 * again from a fresh look when it reaches them. Throws InterruptedError carrying what was done when a step fails.
 */
export async function runCompaction(
  session: ClusterApi,
  settings: CompactionSettings,
  progress: Progress,
  seams: RunSeams = {},
  plan?: CompactionPlan,
): Promise<CompactionRun> {
  const { observation: initial, stages } = plan ?? compactionPlan(await session.observe(), settings);
  assertHealthy(initial, "start maintenance");
  const ledger: Ledger = {
    clusterId: initial.members[0].clusterId,
    compactedRevision: null,
    alarmsDisarmed: [],
    before: new Map(initial.members.map((m) => [m.id, m])),
    defrag: new Map(),
    walk: new Walk(),
    snapshot: null,
  };
  let latest: ClusterObservation = initial;
  const takeLock = seams.takeLock ?? acquireClusterLock;
  const lock = await takeLock(
    settings.access,
    {
      holder: "EtcdCompaction",
      waitMs: settings.lockTimeoutMs,
      endpoints: votingMembers(initial).map((m) => m.endpoint),
    },
    progress,
  );
  // The step under way, so a failure says where the run stopped (an endpoint alone does not name the member).
  let step = "compact";
  let reached = 0;
  let changed: string | undefined;
  try {
    for (const [i, stage] of stages.entries()) {
      reached = i;
      ledger.walk.reach(stage.steps);
      switch (stage.at) {
        case "snapshot": {
          const snapshot = await takeSnapshot(session, initial, stage.settings, progress);
          ledger.snapshot = snapshot;
          const { member, path } = snapshot;
          ledger.walk.done({ action: "snapshot", member, path, keep: stage.settings.keep, reason: SNAPSHOT_REASON });
          break;
        }
        case "compact": {
          // With only the current revision kept, the compaction can take the lock's name out of the database too,
          // so the defrags copy nothing of this run; the lease goes on holding the lock.
          const unnamedAt = settings.retainRevisions <= 1 ? await lock.unname() : undefined;
          await compact(session, initial, Math.max(stage.revision, unnamedAt ?? 0), settings, ledger, progress);
          break;
        }
        case "member":
          step = `defrag ${stage.name}`;
          if (changed) await pauseBetweenMembers(settings.pauseBetweenMembersMs, changed, stage.name, progress);
          latest = await defragMember(session, stage.id, settings, ledger, progress);
          changed = ledger.defrag.get(stage.id)?.defragmented ? stage.name : undefined;
          break;
        case "disarm":
          step = "disarm";
          latest = await disarm(session, settings, ledger, progress);
          break;
      }
    }
  } catch (error) {
    // Nothing has changed yet: a plain failure, not a run stopped part way.
    if (error instanceof SnapshotError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    const now = await session.observe().catch(() => latest);
    const walked = ledger.walk.stopped(stepsOf(stages.slice(reached + 1)));
    const done: CompactionRun = { record: recordOf(ledger, now), walked, observation: now };
    throw new InterruptedError(`maintenance stopped at ${step}: ${reason}`, done, error);
  } finally {
    await lock.release();
  }
  const record = recordOf(ledger, latest);
  progress(`done: ${formatSize(record.reclaimedBytes)} reclaimed across ${record.members.length} member(s)`);
  return { record, walked: ledger.walk.finished(), observation: latest };
}

/**
 * The disarm stage, decided from a look after the defrags; resolves with the last look, taken again only when an
 * alarm was lifted.
 */
async function disarm(
  session: ClusterApi,
  settings: CompactionSettings,
  ledger: Ledger,
  progress: Progress,
): Promise<ClusterObservation> {
  const observation = await session.observe();
  const disarms = disarmSteps(observation, settings);
  ledger.walk.reach(disarms);
  if (disarms.length > 0) {
    ledger.alarmsDisarmed.push(...(await disarmNoSpace(session, observation, settings.disarmBelow, progress)));
    for (const step of disarms) ledger.walk.done(step);
    return session.observe();
  }
  if (hasNoSpace(observation)) progress("disarm: NOSPACE left raised (disarmNoSpace is false)");
  return observation;
}

async function compact(
  session: ClusterApi,
  observation: ClusterObservation,
  revision: number,
  settings: CompactionSettings,
  ledger: Ledger,
  progress: Progress,
): Promise<void> {
  const steps = compactStep(revision, settings);
  ledger.walk.reach(steps);
  const [step] = steps;
  if (step?.action !== "compact") {
    progress(`compact: nothing to do (revision ${revision}, keeping ${settings.retainRevisions})`);
    return;
  }
  const target = step.revision;
  const leader = observation.members.find((m) => m.isLeader) ?? observation.members[0];
  const largest = Math.max(...observation.members.map((m) => m.dbSize));
  const started = Date.now();
  progress(`compact: to revision ${target} of ${revision} through ${leader.name}`);
  try {
    await session.client(leader.endpoint).compact(target, defragTimeoutMs(largest), DB_SIZE_BOUND);
  } catch (error) {
    if (!isAlreadyCompacted(error)) throw error;
    progress(`compact: revision ${target} was already compacted`);
  }
  ledger.compactedRevision = target;
  ledger.walk.done(step);
  if (!hasNoSpace(observation)) {
    // bbolt releases the pages a commit freed only at a write that begins after every reader of that commit is
    // gone, and etcd keeps one reader open until its next commit: so it takes two commits, one backend batch
    // interval (100 ms) apart, before defrag decisions can see what the compaction freed. A lease granted and
    // revoked makes those two commits and, unlike a key, is not in the database the defrags then copy.
    const client = session.client(leader.endpoint);
    const lease = await client.grantLease(SCRATCH_LEASE_TTL_SECONDS);
    await sleep(BACKEND_COMMIT_SPACING_MS);
    await client.revokeLease(lease);
  }
  await waitForFreedPages(session, defragTimeoutMs(largest));
  progress(`compact: done in ${formatDuration(Date.now() - started)}`);
}

/**
 * A physical compaction returns once the member that took the request has compacted, but every other member
 * compacts its own backend when it applies the entry, and `dbSizeInUse` only moves at the backend's next commit.
 * Defrag decisions made before that would see the old, full DB and skip members that need it, so wait until every
 * member's in-use size holds still.
 */
async function waitForFreedPages(session: ClusterApi, timeoutMs: number) {
  // Starts empty so at least two reads, one backend commit interval (100 ms) apart, are compared.
  let previous = new Map<string, number>();
  await waitFor(
    async () => {
      const statuses = await Promise.all([...session.clients.values()].map((client) => client.status()));
      const settled = statuses.every((s) => previous.get(s.id) === s.dbSizeInUse);
      previous = new Map(statuses.map((s) => [s.id, s.dbSizeInUse]));
      return settled ? true : undefined;
    },
    // A member that stops answering here is a health problem, not a slow compaction: stop at once.
    {
      what: "every member to finish compacting",
      timeoutMs,
      boundBy: DB_SIZE_BOUND,
      intervalMs: BACKEND_COMMIT_SPACING_MS,
      firstIntervalMs: BACKEND_COMMIT_SPACING_MS,
      retryErrors: false,
    },
  );
}

async function defragMember(
  session: ClusterApi,
  memberId: string,
  settings: CompactionSettings,
  ledger: Ledger,
  progress: Progress,
): Promise<ClusterObservation> {
  let observation = await session.observe();
  let member = observation.members.find((m) => m.id === memberId);
  const label = member?.name ?? ledger.before.get(memberId)?.name ?? memberId;
  assertHealthy(observation, `defragment ${label}`);
  if (!member) throw new EtcdQuotaError(`member ${label} is no longer in the cluster`);
  // Decided now, from this look at the cluster, by the rules the plan was printed from.
  const steps = memberSteps(observation, member, settings);
  const defrag = steps[steps.length - 1];
  ledger.walk.reach(steps);
  ledger.defrag.set(memberId, { defragmented: false, reason: defrag.reason });
  if (defrag.action === "skip-defrag") {
    progress(`defrag ${member.name}: skipped, ${defrag.reason}`);
    ledger.walk.done(defrag);
    return observation;
  }
  if (steps[0].action === "move-leader") {
    observation = await moveLeadershipAway(
      session,
      observation,
      member,
      "so the leader is not blocked by its own defrag",
      progress,
    );
    ledger.walk.done(steps[0]);
    member = observation.members.find((m) => m.id === memberId)!;
  }
  const timeoutMs = defragTimeoutMs(member.dbSize);
  // etcd blocks a member's reads and writes while it defragments; with StopGRPCServiceOnDefrag its clients can know.
  const clients = member.metrics.stopsGrpcOnDefrag
    ? "; its gRPC health says NOT_SERVING meanwhile (StopGRPCServiceOnDefrag)"
    : "";
  progress(`defrag ${member.name}: ${defrag.reason}; allowing up to ${formatDuration(timeoutMs)}${clients}`);
  const started = Date.now();
  try {
    await session.client(member.endpoint).defragment(timeoutMs, DB_SIZE_BOUND);
  } catch (error) {
    // The server keeps defragmenting after the client gives up; wait until the member answers again before
    // reporting, so the next run does not find it mid-defrag. A member that refuses connections has no process
    // listening, so nothing is defragmenting there: report at once rather than wait the whole defrag bound.
    await waitFor(
      async () => {
        try {
          return await session.client(member.endpoint).status();
        } catch (probeError) {
          if (isRefused(probeError)) return null;
          throw probeError;
        }
      },
      { what: `${member.name} to answer after its defrag`, timeoutMs, boundBy: DB_SIZE_BOUND },
    ).catch(() => undefined);
    throw error;
  }
  const after = await session.client(member.endpoint).status();
  ledger.defrag.set(memberId, { defragmented: true, reason: defrag.reason });
  ledger.walk.done(defrag);
  progress(
    `defrag ${member.name}: ${formatSize(member.dbSize)} -> ${formatSize(after.dbSize)} in ${formatDuration(Date.now() - started)}`,
  );
  return observation;
}
