import { checkFailure, EtcdQuotaError, InterruptedError, PartialFailureError } from "../errors";
import { ClusterSession, PREVIEW_CALLS, settingsProblems } from "../etcd/cluster";
import { NO_MEMBER_ANSWERED_AGAIN, noMemberAnswered, noMemberAnsweredKey } from "../plan/cluster";
import type { MemberClientOptions } from "../etcd/member";
import type { SnapshotRecord } from "../types/snapshot";
import { describeQuotaPlan, planQuota } from "../plan/quota";
import { refuseCleartextCredentials } from "../inputs/access";
import type { QuotaSettings } from "../inputs/quota";
import { quotaSettings } from "../inputs/quota";
import type { QuotaObservation, QuotaRun } from "../run/quota";
import { HostPool, memberRecords, observeQuota, refusalsOf, runQuotaChange } from "../run/quota";
import { liveQuota, sameQuota } from "../plan/drift";
import { checkInputs } from "../inputs/check";
import { clusterIdIn, onceThenShort, progressFor } from "./progress";
import { pick, plain, sameValue } from "../values/plain";
import type { QuotaMemberRecord, QuotaRecord } from "../types/quota";
import type { Freshness } from "./sharing";
import { sessionShare } from "./sharing";
import type { ResourceLifecycle } from "./lifecycle";

/** EtcdQuota's inputs other than `members`, kept in the outputs because read and delete only see outputs. */
const INPUT_KEYS = [
  "quota",
  "tls",
  "username",
  "password",
  "allowInsecureCredentials",
  "allowAboveRecommended",
  "restartTimeout",
  "disarmNoSpace",
  "lockTimeout",
  "snapshot",
  "disarmBelow",
  "pauseBetweenMembers",
  "callTimeout",
  "keepBackups",
] as const;

/**
 * The inputs a refresh gives back: also `resourceName`, the SDK's label for progress lines, which is never diffed
 * since it changes nothing on the cluster.
 */
const READ_KEYS = [...INPUT_KEYS, "resourceName"] as const;
/** What the state keeps of the inputs: also the engine's `__provider`. */
const KEPT_KEYS = [...READ_KEYS, "__provider"] as const;

/** EtcdQuota's inputs as the engine sends them: unchecked values until {@link quotaSettings} validates them. */
export type QuotaInputs = { readonly [K in (typeof KEPT_KEYS)[number] | "members"]?: unknown };

/** EtcdQuota's state: the inputs (read and delete see nothing else) and what the last update or refresh found. */
export type QuotaOutputs = Omit<QuotaInputs, "members"> & {
  /**
   * The members input as given, kept apart from the `members` output (the per-member record) so a refresh can hand
   * the engine back exactly the inputs it diffs against.
   */
  readonly memberSpecs: unknown;
  readonly quotaBytes: number;
  readonly members: readonly QuotaMemberRecord[];
  readonly alarmsDisarmed: readonly string[];
  /**
   * The snapshot the last update took. Not `snapshot`: that name is the input, which a refresh hands back to the
   * engine as it was given.
   */
  readonly snapshotTaken: SnapshotRecord | null;
  readonly plan: readonly string[];
};

/** The inputs as the program gave them, rebuilt from outputs (read and delete see nothing else). */
function inputsFromOutputs(props: QuotaOutputs): QuotaInputs {
  return { ...pick(props, READ_KEYS), members: props.memberSpecs };
}

function outputsOf(
  inputs: QuotaInputs,
  record: QuotaRecord,
  observation: QuotaObservation | undefined,
  settings: QuotaSettings,
): QuotaOutputs {
  const plan = observation ? describeQuotaPlan(planQuota(observation.cluster, observation.facts, settings)) : [];
  return plain({
    ...pick(inputs, KEPT_KEYS),
    memberSpecs: inputs.members,
    quotaBytes: record.quotaBytes,
    members: record.members,
    alarmsDisarmed: record.alarmsDisarmed,
    snapshotTaken: record.snapshot,
    plan,
  });
}

/**
 * A session bounded by `callTimeout` (a run, a refresh), or by the preview's fixed bound (`check`). A read-only call
 * (`shared`) shares it with the other calls of its run; a run has its own, and no later call reuses a look from
 * before it.
 */
async function withSession<T>(
  settings: QuotaSettings,
  calls: MemberClientOptions,
  shared: Freshness | undefined,
  use: (session: ClusterSession, hosts: HostPool) => Promise<T>,
): Promise<T> {
  const session = shared
    ? sessionShare.open(settings.access, calls, shared)
    : new ClusterSession(settings.access, calls);
  const hosts = new HostPool();
  try {
    return await use(session, hosts);
  } finally {
    session.close();
    if (!shared) sessionShare.forget(settings.access);
    await hosts.close();
  }
}

async function converge(inputs: QuotaInputs, id: string | undefined): Promise<{ id: string; outs: QuotaOutputs }> {
  const settings = quotaSettings(inputs);
  return withSession(settings, { callTimeoutMs: settings.callTimeoutMs }, undefined, async (session, hosts) => {
    // A new resource is named after the cluster, asked before anything changes: after a failure the cluster may be
    // in trouble, and a member that accepts connections but never answers costs a whole call timeout per question.
    // That look is the run's first: the run does not ask the cluster again before reading the files.
    const first = id === undefined ? await session.observe() : undefined;
    const clusterId = id === undefined ? first?.members[0]?.clusterId : clusterIdIn(id);
    const resourceId = id ?? `etcd-quota-${clusterId ?? "unknown"}`;
    try {
      const progress = progressFor("EtcdQuota", settings.resourceName, clusterId);
      const { record, observation } = await runQuotaChange(session, hosts, settings, progress, {}, first);
      return { id: resourceId, outs: outputsOf(inputs, record, observation, settings) };
    } catch (error) {
      if (!(error instanceof InterruptedError)) throw error;
      const properties = outputsOf(inputs, (error.done as QuotaRun).record, undefined, settings);
      throw new PartialFailureError(error.message, resourceId, properties);
    }
  });
}

/** EtcdQuota's lifecycle, which both faces serve. */
export const quota: ResourceLifecycle<QuotaInputs, QuotaOutputs> = {
  /**
   * Validates the inputs, then, when every value is known, reads the cluster and every member's file (nothing is
   * written) so that a quota the cluster cannot take, an unhealthy cluster or an unreadable file fails the preview.
   */
  async check(_olds: QuotaInputs, news: QuotaInputs) {
    const checked = checkInputs(news, [...KEPT_KEYS, "members"], (inputs, unknown) => {
      const settings = quotaSettings(inputs, unknown);
      refuseCleartextCredentials(settings.access, (i) => `members[${i}].endpoint`);
      return settings;
    });
    if ("failures" in checked) return { inputs: news, failures: checked.failures };
    const { settings, unknown } = checked;
    if (unknown.size > 0) return { inputs: news, failures: [] };
    const refusals = await withSession(settings, PREVIEW_CALLS, "reuse", async (session, hosts) => {
      const observation = await observeQuota(session, hosts, settings);
      // Settings that every member refuses (a wrong CA or password) would also show as each member "down": say the
      // one thing to fix instead. A user without the root role could not move leadership or disarm: say so now.
      const access = await settingsProblems(
        session,
        observation.cluster,
        (endpoint) => `members[${settings.members.findIndex((m) => m.endpoint === endpoint)}].endpoint`,
      );
      if (access.length > 0) return [...observation.fileProblems, ...access];
      if (observation.cluster.members.length === 0) {
        // One failure for the cluster rather than one per member, told in full unless this command's refresh did.
        const why = onceThenShort(
          noMemberAnsweredKey(observation.cluster),
          noMemberAnswered(observation.cluster),
          NO_MEMBER_ANSWERED_AGAIN,
        );
        return [...observation.fileProblems, { field: "members", reason: why }];
      }
      const plan = planQuota(observation.cluster, observation.facts, settings);
      const refusals = await refusalsOf(hosts, settings, observation, plan);
      // The preview's account of what an update would do, each file named as the link it may be resolves.
      if (refusals.length === 0 && plan.steps.some((step) => step.action !== "none")) {
        const progress = progressFor("EtcdQuota", settings.resourceName, observation.cluster.members[0]?.clusterId);
        for (const line of describeQuotaPlan(plan)) progress(`plan: ${line}`);
        for (const warning of plan.warnings) progress(`warning: ${warning}`);
      }
      return refusals;
    });
    return {
      inputs: news,
      failures: refusals.map((r) => checkFailure(r.field, r.reason)),
    };
  },

  async diff(_id: string, olds: QuotaOutputs, news: QuotaInputs) {
    const changed: string[] = [];
    if (!sameQuota(olds.quota, news.quota)) changed.push("quota");
    if (!sameValue(olds.memberSpecs, news.members)) changed.push("members");
    for (const key of INPUT_KEYS) {
      if (key !== "quota" && !sameValue(olds[key], news[key])) changed.push(key);
    }
    return { changes: changed.length > 0, changed };
  },

  async create(inputs: QuotaInputs) {
    return converge(inputs, undefined);
  },

  async update(id: string, _olds: QuotaOutputs, news: QuotaInputs) {
    const { outs } = await converge(news, id);
    return { outs };
  },

  async read(id: string, props?: QuotaOutputs) {
    if (props === undefined) throw new EtcdQuotaError("refresh: the engine sent no state to refresh");
    const inputs = inputsFromOutputs(props);
    const settings = quotaSettings(inputs);
    return withSession(settings, { callTimeoutMs: settings.callTimeoutMs }, "read", async (session, hosts) => {
      const observation = await observeQuota(session, hosts, settings);
      if (observation.cluster.members.length === 0) {
        // `check` refuses the same dead cluster, so a preview or an `up` still fails on it; a destroy goes through.
        const progress = progressFor("EtcdQuota", settings.resourceName, clusterIdIn(id));
        const why = onceThenShort(
          noMemberAnsweredKey(observation.cluster),
          noMemberAnswered(observation.cluster),
          NO_MEMBER_ANSWERED_AGAIN,
        );
        progress(`warning: ${why}; keeping the last known state`);
        return { id, props, inputs: plain(inputs) };
      }
      const record: QuotaRecord = {
        quotaBytes: settings.quotaBytes,
        alarmsDisarmed: props.alarmsDisarmed ?? [],
        snapshot: props.snapshotTaken ?? null,
        members: memberRecords(settings, observation, (endpoint) => {
          const previous = (props.members ?? []).find((m) => m.endpoint === endpoint);
          return {
            restarted: Boolean(previous?.restarted),
            backupPath: previous?.backupPath ?? null,
          };
        }),
      };
      const quota = liveQuota(inputs.quota, record);
      const outs = outputsOf({ ...inputs, __provider: props.__provider }, record, observation, settings);
      return {
        id,
        props: { ...outs, quota },
        inputs: plain({ ...pick(inputs, READ_KEYS), members: inputs.members, quota }),
      };
    });
  },

  async delete(id: string, props: QuotaOutputs) {
    const progress = progressFor("EtcdQuota", props.resourceName, clusterIdIn(id));
    progress("removed from the stack; every member keeps the quota it has (nothing is changed on delete)");
  },
};
