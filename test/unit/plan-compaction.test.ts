import * as assert from "node:assert/strict";
import { disarmDecision, healthProblems } from "../../provider/plan/cluster";
import {
  compactionTarget,
  defragDecision,
  describeStep,
  maintenanceReasons,
  planCompaction,
} from "../../provider/plan/compaction";
import { compactionSettings } from "../../provider/inputs/compaction";
import { cluster, member, MiB } from "./observations";

const settings = compactionSettings({ endpoints: ["http://127.0.0.1:2379"] });

describe("compaction plan", () => {
  it("compacts to the current revision by default, as the runbook does", () => {
    assert.equal(compactionTarget(8991138, 0), 8991138);
  });

  it("keeps the newest N revisions when retainRevisions is N", () => {
    assert.equal(compactionTarget(1000, 100), 901);
    assert.equal(compactionTarget(1000, 1), 1000);
    assert.equal(compactionTarget(50, 100), undefined);
  });

  it("defragments followers first, moves leadership away, and defragments the leader last", () => {
    const steps = planCompaction(cluster([member("m1"), member("m3"), member("m2")]), settings);
    assert.deepEqual(
      steps.map((s) => `${s.action}${"member" in s ? ` ${s.member}` : ""}`),
      ["compact", "defrag m2", "defrag m3", "move-leader m1", "defrag m1"],
    );
    const move = steps.find((s) => s.action === "move-leader");
    assert.ok(move && "to" in move && (move.to === "m2" || move.to === "m3"));
  });

  it("does not move leadership when moveLeader is false or the cluster has one member", () => {
    const noMove = compactionSettings({ endpoints: ["http://127.0.0.1:2379"], moveLeader: false });
    assert.ok(!planCompaction(cluster([member("m1"), member("m2")]), noMove).some((s) => s.action === "move-leader"));
    assert.ok(!planCompaction(cluster([member("m1")]), settings).some((s) => s.action === "move-leader"));
  });

  it("marks what the run decides again: defrags after the compaction, the disarm after the defrags", () => {
    const noSpace = {
      ...cluster([member("m1"), member("m2")]),
      alarms: [{ memberId: member("m2").id, type: "NOSPACE" }],
    };
    const lines = planCompaction(noSpace, settings).map(describeStep);
    assert.match(lines[0], /^compact to revision \d+ \(keeping only the latest values\)$/);
    for (const line of lines.slice(1, -1)) assert.match(line, /\[decided again after the compaction\]$/, line);
    assert.match(
      lines.at(-1)!,
      /^disarm NOSPACE on m2 \(only once every member is below 90% .*\[decided again after the defrags\]$/,
    );
    const keep = compactionSettings({ endpoints: ["http://127.0.0.1:2379"], disarmNoSpace: false });
    assert.ok(!planCompaction(noSpace, keep).some((s) => s.action === "disarm"), "no disarm when it is off");
    assert.ok(
      !planCompaction(cluster([member("m1")]), settings).some((s) => s.action === "disarm"),
      "nor without NOSPACE",
    );
  });

  it("skips learners", () => {
    const steps = planCompaction(cluster([member("m1"), member("m2", { isLearner: true })]), settings);
    assert.ok(!steps.some((s) => "member" in s && s.member === "m2"));
  });

  it("skips members below every threshold and says why", () => {
    const small = member("m2", { dbSize: 10 * MiB, dbSizeInUse: 9 * MiB });
    const decision = defragDecision(small, settings.defrag);
    assert.equal(decision.defrag, false);
    assert.match(decision.reason, /1 MiB reclaimable \(10% of 10 MiB\): below the thresholds/);
    assert.equal(
      defragDecision(member("m2", { dbSize: 10 * MiB, dbSizeInUse: 7 * MiB }), settings.defrag).defrag,
      true,
    );
    assert.equal(defragDecision(member("m2"), false).defrag, false);
  });

  it("disarms NOSPACE only when every member is below 90% of the quota it reports", () => {
    assert.equal(disarmDecision(cluster([member("m1", { dbSize: 100 * MiB })]), 0.9).allowed, true);
    const full = disarmDecision(
      cluster([member("m1", { dbSize: 100 * MiB }), member("m2", { dbSize: 560 * MiB })]),
      0.9,
    );
    assert.equal(full.allowed, false);
    assert.match(full.reason, /m2 560 MiB of 600 MiB/);
    assert.match(full.reason, /raise the quota/);
  });

  it("moves that line to disarmBelow: 93% full is refused at 0.9 and allowed at 0.95", () => {
    const observation = cluster([member("m1", { dbSize: 558 * MiB })]);
    assert.equal(disarmDecision(observation, 0.9).allowed, false);
    assert.match(disarmDecision(observation, 0.9).reason, /still at or above 90% of the quota/);
    assert.deepEqual(disarmDecision(observation, 0.95), {
      allowed: true,
      reason: "every member is below 95% of its quota",
    });
  });

  it("reports drift for each `when` condition that holds, and none on a lean cluster", () => {
    const lean = cluster([member("m1", { dbSize: 30 * MiB, dbSizeInUse: 25 * MiB })]);
    assert.deepEqual(maintenanceReasons(lean, settings.when), []);
    const full = cluster([member("m1")], { alarms: [{ memberId: "m100", type: "NOSPACE" }] });
    assert.deepEqual(maintenanceReasons(full, settings.when), [
      "NOSPACE alarm on m1",
      "m1 DB 600 MiB is 100% of its quota 600 MiB",
      "m1 has 575 MiB reclaimable",
    ]);
    const onlyAlarms = compactionSettings({ endpoints: ["http://127.0.0.1:2379"], when: { noSpaceAlarm: true } });
    assert.deepEqual(maintenanceReasons(full, onlyAlarms.when), ["NOSPACE alarm on m1"]);
  });
});

describe("health gate", () => {
  it("tolerates NOSPACE but refuses CORRUPT and unknown alarms", () => {
    const members = [member("m1"), member("m2")];
    assert.deepEqual(healthProblems(cluster(members, { alarms: [{ memberId: "m200", type: "NOSPACE" }] })), []);
    const problems = healthProblems(cluster(members, { alarms: [{ memberId: "m200", type: "CORRUPT" }] }));
    assert.equal(problems.length, 1);
    assert.match(problems[0], /alarm CORRUPT is raised on member m2/);
  });

  it("names endpoints that did not answer and members no endpoint covers", () => {
    const problems = healthProblems(
      cluster([member("m1")], {
        unreachable: [{ endpoint: "http://127.0.0.1:9", reason: "not reachable" }],
        uncovered: [{ id: "ff", name: "m3", clientUrls: ["http://10.0.0.3:2379"], peerUrls: [], isLearner: false }],
      }),
    );
    assert.deepEqual(problems, [
      "http://127.0.0.1:9 did not answer: not reachable",
      "member m3 (http://10.0.0.3:2379) is in the cluster but not in endpoints",
    ]);
  });
});
