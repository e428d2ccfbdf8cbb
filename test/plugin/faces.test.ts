import * as assert from "node:assert/strict";
import { exec } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import { REPO_ROOT } from "../../lab/etcd-binary";
import { SupervisedCluster } from "../../lab/supervisor";
import { providerShim, SECRET_OUTPUTS } from "../../sdk/shim";
import { isSecret } from "../support/engine";
import type { PropertyMap } from "../support/engine-host";
import { ProviderHost, serializeProvider } from "../support/engine-host";
import { liveQuota, sha256 } from "../support/files";

const MiB = 1024 ** 2;

/** One face of the lifecycle, spoken to over the engine's gRPC protocol as the engine does. */
interface Face {
  readonly name: string;
  readonly host: ProviderHost;
  readonly type: string;
  /** What the program side adds to the inputs: the dynamic classes send `__provider` and their `resourceName`. */
  readonly extra: PropertyMap;
}

async function dynamicFace(): Promise<Face> {
  const host = await ProviderHost.start();
  await host.configure({});
  return {
    name: "dynamic provider (provider/dynamic.ts)",
    host,
    type: "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota",
    extra: { __provider: await serializeProvider(providerShim("quota")), resourceName: "quota" },
  };
}

async function pluginFace(): Promise<Face> {
  const host = await ProviderHost.start({ script: path.join(REPO_ROOT, "dist", "plugin", "main.js") });
  await host.configure({});
  return { name: "plugin (plugin/server.ts)", host, type: "etcdquota:index:EtcdQuota", extra: {} };
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
async function lifecycle(face: Face, cluster: SupervisedCluster) {
  const urn = `urn:pulumi:dev::etcd-space::${face.type}::quota`;
  const members = cluster.quotaMembers();
  const lines = () => {
    const said = face.host.logs.splice(0).filter((line) => line.startsWith("EtcdQuota"));
    return normalized(said, cluster) as string[];
  };
  const quotas = () => Promise.all(cluster.lab.members.map((m) => liveQuota(m.clientUrl)));

  const refused = await face.host.check(urn, {}, { ...face.extra, quota: "96MiB", members, restartTimout: "1m" });
  const checked = await face.host.check(urn, {}, { ...face.extra, quota: "96MiB", members });
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
  const eight = await face.host.check(urn, read.inputs!, { ...face.extra, quota: "8GiB", members });
  const diff = await face.host.diff(created.id, urn, read.outputs, eight.inputs, read.inputs);
  const shown = diff.diffs.length > 0 ? diff.diffs : changedInputs(read.inputs!, eight.inputs);

  const raised = await face.host.check(urn, read.inputs!, { ...face.extra, quota: "128MiB", members });
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

describe("one EtcdQuota lifecycle on both faces, against real etcd (check, diff, create, read, update, delete)", function () {
  this.timeout(600_000);
  const clusters: SupervisedCluster[] = [];
  const faces: Face[] = [];

  afterEach(async () => {
    for (const face of faces.splice(0)) await face.host.stop();
    for (const cluster of clusters.splice(0)) await cluster.stop();
  });

  it("the dynamic provider and the plugin answer, store and print the same at every step", async () => {
    faces.push(await dynamicFace(), await pluginFace());
    const runs = [];
    for (const face of faces) {
      const cluster = await SupervisedCluster.start({ format: "systemd-unit", members: 3, quotaBytes: 64 * MiB });
      clusters.push(cluster);
      runs.push(await lifecycle(face, cluster));
    }
    const [dynamic, plugin] = runs;

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
