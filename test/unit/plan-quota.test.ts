import * as assert from "node:assert/strict";
import { InvalidInputError } from "../../provider/errors";
import { backupPathFor, defaultRestartCommand } from "../../provider/config";
import type { MemberFacts } from "../../provider/plan/quota";
import { describeQuotaStep, KUBEADM_UPGRADE_WARNING, planQuota } from "../../provider/plan/quota";
import { quotaSettings } from "../../provider/inputs/quota";
import { cluster, member, MiB } from "./observations";

const GiB = 1024 ** 3;
const base = { quota: "1GiB", members: [{ endpoint: "http://127.0.0.1:2381", configFile: "/etc/etcd.env" }] };

function facts(observationMembers: ReturnType<typeof member>[], overrides: Partial<MemberFacts>[] = []): MemberFacts[] {
  return observationMembers.map((m, i) => ({
    spec: {
      endpoint: m.endpoint,
      configFile: `/etc/etcd/${m.name}.env`,
      format: undefined,
      restartCommand: undefined,
      connection: undefined,
    },
    realPath: `/etc/etcd/${m.name}.env`,
    format: "env-file",
    configuredBytes: 600 * MiB,
    location: "ETCD_QUOTA_BACKEND_BYTES (line 1)",
    liveBytes: 600 * MiB,
    name: m.name,
    id: m.id,
    dbSize: m.dbSize,
    isLeader: m.isLeader,
    ...overrides[i],
  }));
}

function settingsFor(members: ReturnType<typeof member>[], quota: string) {
  return quotaSettings({
    quota,
    members: members.map((m) => ({ endpoint: m.endpoint, configFile: `/etc/etcd/${m.name}.env` })),
  });
}

describe("quota inputs", () => {
  const rejected: [Record<string, unknown>, string, RegExp][] = [
    [{ ...base, quota: 0 }, "quota", /above zero/],
    [{ ...base, quota: -1 }, "quota", /non-negative/],
    [{ ...base, quota: "9GiB" }, "quota", /above the 8 GiB etcd suggests.*allowAboveRecommended/],
    [{ ...base, quota: "lots" }, "quota", /not a size/],
    [{ ...base, quota: undefined }, "quota", /required/],
    [{ ...base, members: [] }, "members", /non-empty list/],
    [{ ...base, members: [{ endpoint: "http://127.0.0.1:2381" }] }, "members[0].configFile", /config file/],
    [
      { ...base, members: [{ endpoint: "http://127.0.0.1:2381", configFile: "etc/etcd.env" }] },
      "members[0].configFile",
      /absolute/,
    ],
    [
      { ...base, members: [{ endpoint: "http://127.0.0.1:2381", configFile: "/etc/etcd.env", format: "toml" }] },
      "members[0].format",
      /one of/,
    ],
    [
      {
        ...base,
        members: [{ endpoint: "http://127.0.0.1:2381", configFile: "/etc/etcd.env", restartCommand: "a\nb" }],
      },
      "members[0].restartCommand",
      /one line/,
    ],
    [
      {
        ...base,
        members: [{ endpoint: "http://127.0.0.1:2381", configFile: "/etc/etcd.env", connection: { host: "h" } }],
      },
      "members[0].connection",
      /./,
    ],
    [{ ...base, restartTimeout: "soon" }, "restartTimeout", /duration/],
    [
      { ...base, keepBackups: 0 },
      "keepBackups",
      /whole number of backups to keep per config file, 1 to 100, got number 0/,
    ],
    [{ ...base, keepBackups: 101 }, "keepBackups", /1 to 100, got number 101/],
    [{ ...base, keepBackups: 2.5 }, "keepBackups", /1 to 100, got number 2\.5/],
    [{ ...base, keepBackups: "5" }, "keepBackups", /1 to 100, got "5"/],
    [{ ...base, keepBackups: null }, "keepBackups", /1 to 100, got null/],
  ];
  for (const [inputs, field, message] of rejected) {
    it(`rejects ${field} with a message naming it (${message.source})`, () => {
      assert.throws(
        () => quotaSettings(inputs),
        (error: unknown) =>
          error instanceof InvalidInputError && error.field.startsWith(field) && message.test(error.message),
      );
    });
  }

  it("keeps 5 backups per file unless keepBackups says otherwise, 1 and 100 included", () => {
    assert.equal(quotaSettings(base).keepBackups, 5);
    assert.equal(quotaSettings({ ...base, keepBackups: 1 }).keepBackups, 1);
    assert.equal(quotaSettings({ ...base, keepBackups: 100 }).keepBackups, 100);
  });

  it("accepts a quota above 8 GiB only with allowAboveRecommended", () => {
    assert.equal(quotaSettings({ ...base, quota: "9GiB", allowAboveRecommended: true }).quotaBytes, 9 * GiB);
  });

  it("picks a restart per format, the unit a drop-in extends, and none for a kubeadm manifest (the kubelet restarts it)", () => {
    assert.equal(
      defaultRestartCommand("systemd-unit", "/etc/systemd/system/etcd.service"),
      "systemctl daemon-reload && systemctl restart -- 'etcd.service'",
    );
    assert.equal(
      defaultRestartCommand("systemd-unit", "/etc/systemd/system/etcd-member.service.d/10-quota.conf"),
      "systemctl daemon-reload && systemctl restart -- 'etcd-member.service'",
    );
    // A unit named like an option stays a unit name.
    assert.equal(
      defaultRestartCommand("systemd-unit", "/etc/systemd/system/-H evil.service"),
      "systemctl daemon-reload && systemctl restart -- '-H evil.service'",
    );
    assert.equal(defaultRestartCommand("env-file", "/etc/etcd.env"), "systemctl restart etcd");
    assert.equal(defaultRestartCommand("kubeadm-manifest", "/etc/kubernetes/manifests/etcd.yaml"), "");
  });

  it("keeps a manifest's backup hidden, so the kubelet does not start it as a second pod", () => {
    const now = new Date("2026-01-02T03:04:05.678Z");
    assert.equal(
      backupPathFor("kubeadm-manifest", "/etc/kubernetes/manifests/etcd.yaml", now),
      "/etc/kubernetes/manifests/.etcd.yaml.bak-20260102T030405.678Z",
    );
    assert.equal(backupPathFor("env-file", "/etc/etcd.env", now), "/etc/etcd.env.bak-20260102T030405.678Z");
  });
});

describe("quota plan", () => {
  const members = [member("m1"), member("m2"), member("m3")];

  it("restarts followers first and the leader last, moving leadership away first", () => {
    const plan = planQuota(cluster(members), facts(members), settingsFor(members, "1GiB"));
    assert.deepEqual(plan.refusals, []);
    assert.deepEqual(
      plan.steps.map((s) => [s.member, s.action, s.moveLeader]),
      [
        ["m2", "write-and-restart", false],
        ["m3", "write-and-restart", false],
        ["m1", "write-and-restart", true],
      ],
    );
  });

  it("names the file a symlinked config file leads to, which is the one edited", () => {
    const plan = planQuota(
      cluster(members),
      facts(members, [{ realPath: "/srv/etcd/m1.env" }]),
      settingsFor(members, "1GiB"),
    );
    const m1 = plan.steps.find((s) => s.member === "m1")!;
    assert.match(describeQuotaStep(m1), /write \/etc\/etcd\/m1\.env \(a link to \/srv\/etcd\/m1\.env\) \(env-file/);
    const m2 = plan.steps.find((s) => s.member === "m2")!;
    assert.doesNotMatch(describeQuotaStep(m2), /a link to/);
  });

  it("restarts nothing when every file and every member already have the quota", () => {
    const plan = planQuota(cluster(members), facts(members), settingsFor(members, "600MiB"));
    assert.ok(plan.steps.every((s) => s.action === "none"));
  });

  it("takes a file without the setting, or with 0, as etcd's 2 GiB: nothing to do for a declared 2 GiB, a write for any other", () => {
    const unset = { configuredBytes: undefined, liveBytes: 2 * GiB };
    const zero = { configuredBytes: 0, liveBytes: 2 * GiB };
    const plan = planQuota(cluster(members), facts(members, [unset, zero, unset]), settingsFor(members, "2GiB"));
    assert.equal(plan.steps.length, 3);
    assert.ok(plan.steps.every((s) => s.action === "none"));
    assert.match(describeQuotaStep(plan.steps[0]), /already runs etcd's default 2 GiB, which its file leaves as it is/);
    const raise = planQuota(cluster(members), facts(members, [unset, zero, unset]), settingsFor(members, "4GiB"));
    assert.ok(raise.steps.every((s) => s.action === "write-and-restart"));
  });

  it("restarts without writing a member whose file is right but which runs another quota", () => {
    const plan = planQuota(
      cluster(members),
      facts(members, [{}, { configuredBytes: GiB }, {}]),
      settingsFor(members, "1GiB"),
    );
    const m2 = plan.steps.find((s) => s.member === "m2");
    assert.equal(m2?.action, "restart");
    // The refresh's drift words the same state `m2 runs ..., its file says ...`: the plan says it the same way.
    assert.match(m2?.reason ?? "", /^runs [0-9.]+ [KMG]iB, its file says 1 GiB$/);
  });

  it("refuses a quota at or below a member's DB size, naming the member", () => {
    const plan = planQuota(cluster(members), facts(members), settingsFor(members, "500MiB"));
    assert.equal(plan.refusals.length, 3);
    assert.match(plan.refusals[0].reason, /500 MiB is not above m1's DB of 600 MiB .*NOSPACE/);
  });

  it("refuses to start while a member is down, and names it", () => {
    const up = [member("m1"), member("m2")];
    const observation = cluster(up, {
      unreachable: [{ endpoint: "http://127.0.0.1:2382", reason: "not reachable" }],
      memberList: [
        ...cluster(up).memberList,
        { id: "m300", name: "m3", clientUrls: ["http://127.0.0.1:2382"], peerUrls: [], isLearner: false },
      ],
    });
    const plan = planQuota(observation, facts(up), settingsFor(members, "1GiB"));
    assert.ok(
      plan.refusals.some((r) => /http:\/\/127.0.0.1:2382 did not answer/.test(r.reason)),
      JSON.stringify(plan.refusals),
    );
  });

  it("refuses when a cluster member is missing from members", () => {
    // The session asks only the listed members' endpoints, so the third shows up as uncovered.
    const listed = members.slice(0, 2);
    const observation = cluster(listed, {
      memberList: cluster(members).memberList,
      uncovered: cluster(members).memberList.filter((m) => m.name === "m3"),
    });
    const plan = planQuota(observation, facts(listed), settingsFor(listed, "1GiB"));
    assert.ok(plan.refusals.some((r) => /member m3 .* is in the cluster but not in members/.test(r.reason)));
  });

  it("allows a one-member cluster, with a warning that it is unavailable while it restarts", () => {
    const single = [member("m1")];
    const plan = planQuota(cluster(single), facts(single), settingsFor(single, "1GiB"));
    assert.deepEqual(plan.refusals, []);
    assert.match(plan.warnings[0], /one member/);
    assert.equal(plan.steps[0].moveLeader, false);
  });

  it("warns that kubeadm upgrade brings the old quota back when a kubeadm manifest is written, and only then", () => {
    const members = [member("m1"), member("m2"), member("m3")];
    const kubeadm = (configuredBytes: number) =>
      facts(
        members,
        members.map(() => ({ format: "kubeadm-manifest" as const, configuredBytes, liveBytes: configuredBytes })),
      );
    const writes = planQuota(cluster(members), kubeadm(600 * MiB), settingsFor(members, "1GiB"));
    assert.deepEqual(writes.warnings, [KUBEADM_UPGRADE_WARNING]);
    assert.match(KUBEADM_UPGRADE_WARNING, /kubeadm upgrade.*ClusterConfiguration.*etcd\.local\.extraArgs/);
    const converged = planQuota(cluster(members), kubeadm(GiB), settingsFor(members, "1GiB"));
    assert.deepEqual(converged.warnings, []);
    assert.deepEqual(planQuota(cluster(members), facts(members), settingsFor(members, "1GiB")).warnings, []);
  });
});
