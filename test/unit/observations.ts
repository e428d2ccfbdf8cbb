import type { ClusterObservation, ObservedMember } from "../../provider/types/observation";

/** Synthetic observations for the pure planners: m1 leads unless told otherwise. */
export const MiB = 1024 ** 2;

export function member(name: string, overrides: Partial<ObservedMember> = {}): ObservedMember {
  return {
    endpoint: `http://127.0.0.1:${2379 + Number(name.slice(1))}`,
    id: `${name}00`,
    clusterId: "c1",
    version: "3.4.23",
    dbSize: 600 * MiB,
    dbSizeInUse: 25 * MiB,
    leaderId: "m100",
    isLearner: false,
    revision: 1000,
    raftTerm: 2,
    raftIndex: 5000,
    errors: [],
    dbSizeQuota: undefined,
    name,
    isLeader: name === "m1",
    metrics: {
      quotaBytes: 600 * MiB,
      dbTotalBytes: 600 * MiB,
      dbInUseBytes: 25 * MiB,
      processStartTime: 1,
      stopsGrpcOnDefrag: undefined,
    },
    ...overrides,
  };
}

export function cluster(members: ObservedMember[], extra: Partial<ClusterObservation> = {}): ClusterObservation {
  return {
    members,
    unreachable: [],
    uncovered: [],
    memberList: members.map((m) => ({
      id: m.id,
      name: m.name,
      clientUrls: [m.endpoint],
      peerUrls: [],
      isLearner: m.isLearner,
    })),
    alarms: [],
    leaderId: members.find((m) => m.isLeader)?.id,
    revision: Math.max(...members.map((m) => m.revision)),
    ...extra,
  };
}
