import type { CompactionRun } from "../run/compaction";
import { runCompaction } from "../run/compaction";
import { checkFailure, EtcdQuotaError, InterruptedError, PartialFailureError } from "../errors";
import { ClusterSession, probeAccess } from "../etcd/cluster";
import type { ClusterObservation } from "../types/observation";
import { NO_MEMBER_ANSWERED_AGAIN, noMemberAnswered, noMemberAnsweredKey } from "../plan/cluster";
import { compactionPlan, describeStep, maintenanceReasons, planCompaction } from "../plan/compaction";
import { refuseCleartextCredentials } from "../inputs/access";
import { compactionSettings } from "../inputs/compaction";
import { checkInputs } from "../inputs/check";
import { clusterIdIn, onceThenShort, progressFor } from "./progress";
import { maintenanceState, UP_TO_DATE } from "../plan/drift";
import type { SizeSample } from "../plan/forecast";
import { forecast, keepSamples, sampleOf } from "../plan/forecast";
import { pick, plain, sameValue } from "../values/plain";
import type { CompactionRecord } from "../types/compaction";
import { sessionShare } from "./sharing";
import type { ResourceLifecycle } from "./lifecycle";

/** EtcdCompaction's inputs, as the program gives them. */
const INPUT_KEYS = [
  "endpoints",
  "tls",
  "username",
  "password",
  "allowInsecureCredentials",
  "retainRevisions",
  "defrag",
  "moveLeader",
  "disarmNoSpace",
  "when",
  "triggers",
  "lockTimeout",
  "snapshot",
  "disarmBelow",
  "pauseBetweenMembers",
  "callTimeout",
] as const;

/**
 * The inputs a refresh gives back: also `resourceName`, the SDK's label for progress lines, which is never diffed
 * since it changes nothing on the cluster.
 */
const READ_KEYS = [...INPUT_KEYS, "resourceName"] as const;
/** What the state keeps of the inputs: also the engine's `__provider`. */
const KEPT_KEYS = [...READ_KEYS, "__provider"] as const;

/**
 * The `maintenance` of a run that stopped part way. A refresh keeps it until a run finishes: the engine forgets a
 * partial failure at every refresh (a Read returns no init errors), so under `refresh: always` only drift makes the
 * next `up` resume, and a cluster that now looks fine would otherwise be left half done.
 */
const STOPPED_PART_WAY = "needed: the last run stopped part way";

/**
 * EtcdCompaction's inputs as the engine sends them: unchecked values until {@link compactionSettings} validates them.
 * `maintenance` is the one `check` adds ({@link UP_TO_DATE}).
 */
export type CompactionInputs = { readonly [K in (typeof KEPT_KEYS)[number] | "maintenance"]?: unknown };

/** One member as a refresh saw it. */
export interface LiveMember {
  readonly name: string;
  readonly id: string;
  readonly endpoint: string;
  readonly leader: boolean;
  readonly learner: boolean;
  readonly dbSize: number;
  readonly dbSizeInUse: number;
  readonly quotaBytes: number | null;
}

/** What a refresh finds: the cluster now and what a run would do. */
interface LiveOutputs {
  readonly maintenance: string;
  /** The readings since the last run, one per refresh, the newest last: what `forecast` is made from. */
  readonly sizeSamples: readonly SizeSample[];
  /** When the largest DB file reaches the quota at the rate the samples show, or why that cannot be said. */
  readonly forecast: string;
  readonly plan: readonly string[];
  readonly liveMembers: readonly LiveMember[];
  readonly alarms: readonly string[];
}

/** EtcdCompaction's state: the inputs (read and delete see nothing else), the last run, the last refresh. */
export type CompactionOutputs = CompactionInputs & CompactionRecord & LiveOutputs;

/**
 * What the cluster looks like now and what a run would do: refreshed by `read`, shown by previews. `earlier` are the
 * size samples of the refreshes since the last run.
 */
function liveOutputs(
  observation: ClusterObservation,
  inputs: CompactionInputs,
  earlier: readonly SizeSample[],
): LiveOutputs {
  const settings = compactionSettings(inputs);
  const sizeSamples = keepSamples(earlier, sampleOf(observation, new Date()));
  const outlook = forecast(sizeSamples);
  const reasons = maintenanceReasons(observation, settings.when, outlook);
  return {
    maintenance: maintenanceState(observation, reasons),
    sizeSamples,
    forecast: outlook.text,
    plan: planCompaction(observation, settings).map(describeStep),
    liveMembers: observation.members.map((m) => ({
      name: m.name,
      id: m.id,
      endpoint: m.endpoint,
      leader: m.isLeader,
      learner: m.isLearner,
      dbSize: m.dbSize,
      dbSizeInUse: m.dbSizeInUse,
      quotaBytes: m.metrics.quotaBytes ?? null,
    })),
    alarms: observation.alarms.map(
      (a) => `${a.type} on ${observation.memberList.find((m) => m.id === a.memberId)?.name ?? a.memberId}`,
    ),
  };
}

/** The inputs (read and delete see only outputs) and what the run did. */
function recordOutputs(inputs: CompactionInputs, record: CompactionRecord): CompactionInputs & CompactionRecord {
  return { ...pick(inputs, KEPT_KEYS), ...record };
}

function outputsOf(
  inputs: CompactionInputs,
  record: CompactionRecord,
  observation: ClusterObservation,
): CompactionOutputs {
  // The run changed the sizes: the growth series starts again.
  return plain({ ...recordOutputs(inputs, record), ...liveOutputs(observation, inputs, []) });
}

/** Runs maintenance and returns outputs; a run stopped part way becomes a partial failure recording what was done. */
async function maintain(
  inputs: CompactionInputs,
  id: string | undefined,
): Promise<{ id: string; outs: CompactionOutputs }> {
  const settings = compactionSettings(inputs);
  const session = new ClusterSession(settings.access, { callTimeoutMs: settings.callTimeoutMs });
  try {
    // A new resource is named after the cluster: the look that names it is the one the run's plan is made from.
    const plan = id === undefined ? compactionPlan(await session.observe(), settings) : undefined;
    const clusterId = id === undefined ? plan?.observation.members[0]?.clusterId : clusterIdIn(id);
    const { record, observation } = await runCompaction(
      session,
      settings,
      progressFor("EtcdCompaction", settings.resourceName, clusterId),
      {},
      plan,
    );
    return { id: id ?? `etcd-compaction-${record.clusterId}`, outs: outputsOf(inputs, record, observation) };
  } catch (error) {
    if (!(error instanceof InterruptedError)) throw error;
    const { record } = error.done as CompactionRun;
    const resourceId = id ?? `etcd-compaction-${record.clusterId}`;
    const properties = plain({
      ...recordOutputs(inputs, record),
      maintenance: `${STOPPED_PART_WAY} (${error.message})`,
    });
    throw new PartialFailureError(error.message, resourceId, properties);
  } finally {
    session.close();
    sessionShare.forget(settings.access);
  }
}

/** EtcdCompaction's lifecycle, which both faces serve. */
export const compaction: ResourceLifecycle<CompactionInputs, CompactionOutputs> = {
  async check(_olds: CompactionInputs, news: CompactionInputs) {
    const checked = checkInputs(news, KEPT_KEYS, (inputs, unknown) => {
      const settings = compactionSettings(inputs, unknown);
      refuseCleartextCredentials(settings.access, (i) => `endpoints[${i}]`);
      return settings;
    });
    if ("failures" in checked) return { inputs: news, failures: checked.failures };
    const { settings, unknown } = checked;
    // Values still unknown in a preview (computed elsewhere in the program) are tried at the next check.
    const problems =
      unknown.size > 0
        ? []
        : await probeAccess(
            settings.access,
            (endpoint) => `endpoints[${settings.access.endpoints.indexOf(endpoint)}]`,
            (access, calls) => sessionShare.open(access, calls, "reuse"),
          );
    return {
      inputs: { ...news, maintenance: UP_TO_DATE },
      failures: problems.map((p) => checkFailure(p.field, p.reason)),
    };
  },

  async diff(id: string, olds: CompactionOutputs, news: CompactionInputs) {
    const changed: string[] = INPUT_KEYS.filter((key) => !sameValue(olds[key], news[key]));
    if (olds.maintenance !== UP_TO_DATE) {
      changed.push("maintenance");
      if (Array.isArray(olds.plan) && olds.plan.length > 0) {
        const progress = progressFor("EtcdCompaction", news.resourceName, clusterIdIn(id));
        progress(
          `maintenance is due (${String(olds.maintenance).replace(/^needed: /, "")}); plan as of the last refresh:`,
        );
        for (const step of olds.plan) progress(`  - ${step}`);
      }
    }
    return { changes: changed.length > 0, changed };
  },

  async create(inputs: CompactionInputs) {
    return maintain(inputs, undefined);
  },

  async update(id: string, _olds: CompactionOutputs, news: CompactionInputs) {
    const { outs } = await maintain(news, id);
    return { outs };
  },

  async read(id: string, props?: CompactionOutputs) {
    if (props === undefined) throw new EtcdQuotaError("refresh: the engine sent no state to refresh");
    const inputs = pick(props, READ_KEYS);
    const settings = compactionSettings(inputs);
    const session = sessionShare.open(settings.access, { callTimeoutMs: settings.callTimeoutMs }, "read");
    try {
      const observation = await session.observe();
      if (observation.members.length === 0) {
        // Shown as drift (`maintenance: "needed: no member answered (...)" => "up-to-date"`), so a preview says it and
        // an `up` fails on it, while a destroy goes through. The plan of the last refresh no longer applies.
        const maintenance = `needed: ${noMemberAnswered(observation)}`;
        const progress = progressFor("EtcdCompaction", settings.resourceName, clusterIdIn(id));
        const why = onceThenShort(
          noMemberAnsweredKey(observation),
          noMemberAnswered(observation),
          NO_MEMBER_ANSWERED_AGAIN,
        );
        progress(`warning: ${why}; keeping the last known state`);
        return {
          id,
          props: plain({ ...props, maintenance, plan: [] }),
          inputs: plain({ ...inputs, maintenance }),
        };
      }
      const live = liveOutputs(observation, inputs, props.sizeSamples ?? []);
      const unfinished = String(props.maintenance).startsWith(STOPPED_PART_WAY);
      const maintenance = unfinished ? props.maintenance : live.maintenance;
      return {
        id,
        props: plain({ ...props, ...live, maintenance }),
        inputs: plain({ ...inputs, maintenance }),
      };
    } finally {
      session.close();
    }
  },

  async delete(id: string, props: CompactionOutputs) {
    const progress = progressFor("EtcdCompaction", props.resourceName, clusterIdIn(id));
    progress("removed from the stack; the cluster is left as it is (maintenance is not undone)");
  },
};
