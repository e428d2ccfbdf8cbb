import * as assert from "node:assert/strict";
import { exec } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import { AlarmAction, AlarmType } from "etcd3";
import { REPO_ROOT } from "../../lab/etcd-binary";
import { SupervisedCluster } from "../../lab/supervisor";
import { type ProviderKind, providerShim, SECRET_OUTPUTS } from "../../sdk/shim";
import { isSecret } from "../support/engine";
import type { PropertyMap } from "../support/engine-host";
import { ProviderHost, serializeProvider } from "../support/engine-host";
import { alarmsOf, fillToNoSpace, settledSizes, withClient } from "../support/etcd";
import { liveQuota, sha256 } from "../support/files";

const MiB = 1024 ** 2;

/** One face of the lifecycle, spoken to over the engine's gRPC protocol as the engine does. */
interface Face {
  readonly name: string;
  readonly host: ProviderHost;
  /** The resource's type token on this face. */
  readonly type: (kind: ProviderKind) => string;
  /** What the program side adds to the inputs: the dynamic classes send `__provider` and their `resourceName`. */
  readonly extra: (kind: ProviderKind) => PropertyMap;
}

/** The resource names the lifecycles use, as a program would declare them. */
const NAMES: Readonly<Record<ProviderKind, string>> = { quota: "quota", compaction: "space" };
const CLASSES: Readonly<Record<ProviderKind, string>> = { quota: "EtcdQuota", compaction: "EtcdCompaction" };

async function dynamicFace(): Promise<Face> {
  const host = await ProviderHost.start();
  await host.configure({});
  const providers = {
    quota: await serializeProvider(providerShim("quota")),
    compaction: await serializeProvider(providerShim("compaction")),
  };
  return {
    name: "dynamic provider (provider/dynamic.ts)",
    host,
    type: (kind) => `pulumi-nodejs:dynamic/etcd-quota:${CLASSES[kind]}`,
    extra: (kind) => ({ __provider: providers[kind], resourceName: NAMES[kind] }),
  };
}

async function pluginFace(): Promise<Face> {
  const host = await ProviderHost.start({ script: path.join(REPO_ROOT, "dist", "plugin", "main.js") });
  await host.configure({});
  return {
    name: "plugin (plugin/server.ts)",
    host,
    type: (kind) => `etcdquota:index:${CLASSES[kind]}`,
    extra: () => ({}),
  };
}

/**
 * What the engine stores either way, less what only one face's engine keeps (`__provider`, the SDK's label), and
 * secrets shown as what they hold: the plugin marks them itself, the engine marks the dynamic provider's (`SECRET_OUTPUTS`).
 */
function comparable(props: PropertyMap | undefined): PropertyMap {
  return Object.fromEntries(
    Object.entries(props ?? {})
      .filter(([key]) => key !== "__provider" && key !== "resourceName")
      .map(([key, value]) => [key, isSecret(value) ? value.value : value]),
  );
}

/**
 * A value with what differs between two clusters started alike replaced: their ports, folders, cluster IDs and
 * timings. Member names (m1..m3) stay.
 */
function normalized(value: unknown, cluster: SupervisedCluster): unknown {
  let text = JSON.stringify(value);
  for (const member of cluster.lab.members) {
    text = text.split(member.clientUrl).join(`<${member.name}>`);
    text = text.split(path.dirname(cluster.configFile(member.name))).join("<dir>");
  }
  text = text
    .replace(/\b[0-9a-f]{14,16}\b/g, "<id>")
    .replace(/\d+(\.\d+)?\s?(ms|s)\b/g, "<t>")
    .replace(/"\d{4}-\d\d-\d\dT[^"]*"/g, '"<time>"')
    .replace(/\.bak-\d{8}T\d{6}\.\d{3}Z/g, ".bak-<time>")
    .replace(/pid \d+/g, "pid <n>");
  return JSON.parse(text);
}

/**
 * A rolling change's lines with member names blanked and sorted: which member leads (it goes last, after leadership
 * moves to a follower) is each cluster's own pick. Each member's own record is compared by name in the outputs.
 */
function leaderAside(lines: readonly string[]): string[] {
  return lines.map((line) => line.replace(/\bm[1-3]\b/g, "m?")).sort();
}

/** The plan with its steps sorted: followers go by name and the leader, the cluster's own pick, last. */
function planAside(outputs: PropertyMap): PropertyMap {
  return { ...outputs, plan: [...((outputs.plan as string[] | undefined) ?? [])].sort() };
}

/** How many etcd processes the supervisor (the systemd stand-in) has started, per member. */
function starts(cluster: SupervisedCluster): number[] {
  return cluster.lab.members.map(
    (m) => fs.readFileSync(cluster.supervisorLog(m.name), "utf8").match(/ -> pid \d+$/gm)?.length ?? 0,
  );
}

/**
 * The lifecycle on one face against its own cluster (three members at 64 MiB): what it answered and printed at each
 * step, normalized, with the cluster checked after each change.
 */
async function quotaLifecycle(face: Face, cluster: SupervisedCluster) {
  const urn = `urn:pulumi:dev::etcd-space::${face.type("quota")}::quota`;
  const extra = face.extra("quota");
  const members = cluster.quotaMembers();
  const lines = () => {
    const said = face.host.logs.splice(0).filter((line) => line.startsWith("EtcdQuota"));
    return normalized(said, cluster) as string[];
  };
  const quotas = () => Promise.all(cluster.lab.members.map((m) => liveQuota(m.clientUrl)));

  const refused = await face.host.check(urn, {}, { ...extra, quota: "96MiB", members, restartTimout: "1m" });
  const checked = await face.host.check(urn, {}, { ...extra, quota: "96MiB", members });
  assert.deepEqual(checked.failures, []);
  lines();

  const created = await face.host.create(urn, checked.inputs);
  const createLines = lines();
  assert.deepEqual(
    await quotas(),
    [96, 96, 96].map((n) => n * MiB),
    `${face.name}: create raised the quota`,
  );

  // By hand on m2: 80 MiB in its unit, then the restart an operator would run.
  const unit = cluster.configFile("m2");
  fs.writeFileSync(
    unit,
    fs.readFileSync(unit, "utf8").replace(`--quota-backend-bytes=${96 * MiB}`, `--quota-backend-bytes=${80 * MiB}`),
  );
  await promisify(exec)(cluster.restartCommand("m2"));
  assert.equal(await liveQuota(cluster.lab.member("m2").clientUrl), 80 * MiB);

  const read = await face.host.read(created.id, urn, created.outputs, checked.inputs);
  const readLines = lines();
  // `pulumi preview --diff` shows each changed input as the refreshed input against the program's:
  // `quota: "mixed: ..." => "8GiB"`.
  const eight = await face.host.check(urn, read.inputs!, { ...extra, quota: "8GiB", members });
  const diff = await face.host.diff(created.id, urn, read.outputs, eight.inputs, read.inputs);
  const shown = diff.diffs.length > 0 ? diff.diffs : changedInputs(read.inputs!, eight.inputs);

  const raised = await face.host.check(urn, read.inputs!, { ...extra, quota: "128MiB", members });
  const before = starts(cluster);
  const updated = await face.host.update(created.id, urn, read.outputs, raised.inputs, read.inputs);
  const updateLines = lines();
  assert.deepEqual(
    await quotas(),
    [128, 128, 128].map((n) => n * MiB),
    `${face.name}: update raised the quota`,
  );
  assert.deepEqual(
    starts(cluster).map((n, i) => n - before[i]),
    [1, 1, 1],
    `${face.name}: each member restarted once`,
  );

  const files = cluster.lab.members.map((m) => sha256(cluster.configFile(m.name)));
  const pids = cluster.lab.members.map((m) => cluster.pid(m.name));
  await face.host.delete(created.id, urn, updated.outputs, raised.inputs);
  const deleteLines = lines();
  assert.deepEqual(
    cluster.lab.members.map((m) => sha256(cluster.configFile(m.name))),
    files,
    `${face.name}: delete wrote nothing`,
  );
  assert.deepEqual(
    cluster.lab.members.map((m) => cluster.pid(m.name)),
    pids,
    `${face.name}: delete restarted nothing`,
  );

  return {
    updated: updated.outputs,
    transcript: normalized(
      {
        refused: refused.failures,
        checked: comparable(checked.inputs),
        id: created.id,
        created: planAside(comparable(created.outputs)),
        createLines: leaderAside(createLines),
        read: { outputs: planAside(comparable(read.outputs)), inputs: comparable(read.inputs) },
        readLines,
        diff: {
          changes: diff.changes,
          replaces: diff.replaces,
          shown,
          old: read.inputs!.quota,
          new: eight.inputs.quota,
        },
        updateLines: leaderAside(updateLines),
        updated: planAside(comparable(updated.outputs)),
        deleteLines,
      },
      cluster,
    ) as Record<string, unknown>,
    diff,
  };
}

/** The keys whose values differ: what the engine shows for a provider with no detailed diff (the Node host). */
function changedInputs(olds: PropertyMap, news: PropertyMap): string[] {
  const keys = new Set([...Object.keys(comparable(olds)), ...Object.keys(comparable(news))]);
  return [...keys].filter((key) => JSON.stringify(olds[key]) !== JSON.stringify(news[key])).sort();
}

/** The numbers two clusters filled alike still differ in: DB sizes, revisions, sizes and shares of quota in text. */
const SIZE_KEYS = new Set([
  "dbSize",
  "dbSizeBefore",
  "dbSizeAfter",
  "dbSizeInUse",
  "reclaimedBytes",
  "compactedRevision",
]);

/**
 * A compaction's transcript with sizes and revisions blanked, and member names too: which member leads (defragmented
 * last, after leadership moves away) is each cluster's own pick, so lists are compared as sorted sets. The order
 * followers-then-leader is the plan's, checked by the compaction tests against the members' own Status.
 */
function sizesAside(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(sizesAside).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  }
  if (typeof value === "string") {
    return value
      .replace(/-?\d+(\.\d+)? ?(B|KiB|MiB|GiB)\b/g, "<size>")
      .replace(/\b\d+(\.\d+)?%/g, "<share>")
      .replace(/\b(revision|of) \d+/g, "$1 <n>")
      .replace(/\bm[1-3]\b/g, "m?");
  }
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, v]) => [key, SIZE_KEYS.has(key) && typeof v === "number" ? "<n>" : sizesAside(v)]),
  );
}

/** Each member's DB size and the alarms raised, read from etcd itself. */
async function spaceOf(cluster: SupervisedCluster): Promise<{ sizes: number[]; alarms: string[] }> {
  return { sizes: await settledSizes(cluster.endpoints), alarms: await alarmsOf(cluster.endpoints) };
}

/**
 * EtcdCompaction on one face against its own cluster: refused input, then created at NOSPACE (which it clears), the
 * cluster filled to NOSPACE again, read (drift), diffed, updated (cleared again), deleted (nothing touched). The
 * cluster is read after each change.
 */
async function compactionLifecycle(face: Face, cluster: SupervisedCluster) {
  const urn = `urn:pulumi:dev::etcd-space::${face.type("compaction")}::space`;
  const inputs = { ...face.extra("compaction"), endpoints: cluster.endpoints };
  const lines = () => {
    const said = face.host.logs.splice(0).filter((line) => line.startsWith("EtcdCompaction"));
    return normalized(said, cluster) as string[];
  };
  const assertCleared = async (full: { sizes: number[] }, step: string) => {
    const after = await spaceOf(cluster);
    assert.deepEqual(after.alarms, [], `${face.name}: ${step} disarmed NOSPACE`);
    after.sizes.forEach((size, i) =>
      assert.ok(
        size < full.sizes[i] / 2,
        `${face.name}: ${step} shrank member ${i + 1}: ${size} < ${full.sizes[i]} / 2`,
      ),
    );
  };
  const fullAgain = async () => {
    await fillToNoSpace(cluster.endpoints);
    // Each member raises NOSPACE when it applies a write over its quota, and a fill can stop before the last one
    // does (2 of 3 here, at times): the others are raised as etcd's own quota check would, so both clusters, and
    // both faces' messages, name all three.
    for (const endpoint of cluster.endpoints) {
      await withClient([endpoint], async (client) => {
        const memberID = (await client.maintenance.status()).header.member_id;
        await client.maintenance.alarm({ action: AlarmAction.Activate, memberID, alarm: AlarmType.Nospace });
      });
    }
    const full = await spaceOf(cluster);
    assert.equal(full.alarms.filter((a) => a.startsWith("NOSPACE@")).length, 3, full.alarms.join());
    return full;
  };

  const refused = await face.host.check(urn, {}, { ...inputs, retainRevison: 10 });
  const full = await fullAgain();
  const checked = await face.host.check(urn, {}, inputs);
  assert.deepEqual(checked.failures, []);
  lines();

  const created = await face.host.create(urn, checked.inputs);
  const createLines = lines();
  await assertCleared(full, "create");

  const drifted = await fullAgain();
  const read = await face.host.read(created.id, urn, created.outputs, checked.inputs);
  const readLines = lines();
  const rechecked = await face.host.check(urn, read.inputs!, inputs);
  const diff = await face.host.diff(created.id, urn, read.outputs, rechecked.inputs, read.inputs);
  const diffLines = lines();
  const updated = await face.host.update(created.id, urn, read.outputs, rechecked.inputs, read.inputs);
  const updateLines = lines();
  await assertCleared(drifted, "update");

  const before = await spaceOf(cluster);
  const pids = cluster.lab.members.map((m) => cluster.pid(m.name));
  await face.host.delete(created.id, urn, updated.outputs, rechecked.inputs);
  const deleteLines = lines();
  assert.deepEqual(
    await spaceOf(cluster),
    before,
    `${face.name}: delete changed no size and raised or cleared no alarm`,
  );
  assert.deepEqual(
    cluster.lab.members.map((m) => cluster.pid(m.name)),
    pids,
    `${face.name}: delete restarted nothing`,
  );

  return {
    diff,
    transcript: sizesAside(
      normalized(
        {
          refused: refused.failures,
          checked: comparable(checked.inputs),
          id: created.id,
          created: comparable(created.outputs),
          createLines,
          read: { outputs: comparable(read.outputs), inputs: comparable(read.inputs) },
          readLines,
          diff: { changes: diff.changes, replaces: diff.replaces, maintenance: read.inputs!.maintenance },
          diffLines,
          updateLines,
          updated: comparable(updated.outputs),
          deleteLines,
        },
        cluster,
      ),
    ) as Record<string, unknown>,
  };
}

describe("one lifecycle on both faces, against real etcd (check, diff, create, read, update, delete)", function () {
  this.timeout(600_000);
  // One cluster per face, shared by both resources' lifecycles: EtcdCompaction's leaves the quota as it found it.
  const clusters: SupervisedCluster[] = [];
  const faces: Face[] = [];

  before(async () => {
    faces.push(await dynamicFace(), await pluginFace());
    for (let i = 0; i < faces.length; i++) {
      clusters.push(await SupervisedCluster.start({ format: "systemd-unit", members: 3, quotaBytes: 64 * MiB }));
    }
  });

  after(async () => {
    for (const face of faces.splice(0)) await face.host.stop();
    for (const cluster of clusters.splice(0)) await cluster.stop();
  });

  it("EtcdCompaction: the dynamic provider and the plugin answer, store and print the same at every step", async () => {
    const [dynamic, plugin] = [
      await compactionLifecycle(faces[0], clusters[0]),
      await compactionLifecycle(faces[1], clusters[1]),
    ];

    assert.match(
      JSON.stringify(dynamic.transcript.refused),
      /retainRevison: unknown input; did you mean retainRevisions\?/,
    );
    assert.match(String((dynamic.transcript.diff as { maintenance: string }).maintenance), /^needed: .*NOSPACE alarm/);
    assert.equal((dynamic.transcript.diff as { changes: boolean }).changes, true);
    assert.ok((dynamic.transcript.updateLines as string[]).length > 0, "the update printed progress lines");
    assert.ok(
      (dynamic.transcript.diffLines as string[]).some((line) => /maintenance is due/.test(line)),
      "the diff printed the plan",
    );
    // Only the plugin has a detailed diff: `maintenance`, the refreshed value against the checked one.
    assert.deepEqual(plugin.diff.detailedDiff, {
      maintenance: { kind: provproto.PropertyDiff.Kind.UPDATE, inputDiff: true },
    });
    assert.deepEqual(dynamic.diff.detailedDiff, {});

    for (const step of Object.keys(dynamic.transcript)) {
      assert.deepEqual(plugin.transcript[step], dynamic.transcript[step], `${step}: the two faces differ`);
    }
  });

  it("EtcdQuota: the dynamic provider and the plugin answer, store and print the same at every step", async () => {
    const [dynamic, plugin] = [
      await quotaLifecycle(faces[0], clusters[0]),
      await quotaLifecycle(faces[1], clusters[1]),
    ];

    assert.match(
      JSON.stringify(dynamic.transcript.refused),
      /restartTimout: unknown input; did you mean restartTimeout\?/,
    );
    assert.match(String((dynamic.transcript.diff as { old: string }).old), /^mixed: m1 96MiB; m2 80MiB; m3 96MiB$/);
    assert.deepEqual((dynamic.transcript.diff as { shown: string[] }).shown, ["quota"]);
    assert.ok((dynamic.transcript.updateLines as string[]).length > 0, "the update printed progress lines");
    // Only the plugin has a detailed diff: the changed input, old input against new.
    assert.deepEqual(plugin.diff.detailedDiff, {
      quota: { kind: provproto.PropertyDiff.Kind.UPDATE, inputDiff: true },
    });
    assert.deepEqual(dynamic.diff.detailedDiff, {});

    // The plugin marks secret what the engine marks for the dynamic classes (their additionalSecretOutputs).
    const marked = Object.keys(plugin.updated).filter((key) => isSecret(plugin.updated[key]));
    assert.deepEqual(marked.sort(), ["memberSpecs"], "the credentials are not set here: memberSpecs alone");
    assert.ok(marked.every((key) => SECRET_OUTPUTS.quota.includes(key)));

    for (const step of Object.keys(dynamic.transcript)) {
      assert.deepEqual(plugin.transcript[step], dynamic.transcript[step], `${step}: the two faces differ`);
    }
  });
});
