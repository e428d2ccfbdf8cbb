import * as assert from "node:assert/strict";
import * as http from "node:http";
import type * as net from "node:net";
import { LabCluster } from "../../lab/cluster";
import { listConfig, PulumiProject } from "../../lab/pulumi-cli";
import type { LabTls } from "../../lab/tls";
import { makeLabTls } from "../../lab/tls";
import { Etcd3 } from "etcd3";
import { compactRevisionOf, statusOf } from "../support/etcd";

// Stack config spread into the args, as program/index.ts does: where a typo in a stack file lands in a program.
const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction } from "pulumi-etcd-quota";

const config = new pulumi.Config();
new EtcdCompaction("space", {
  endpoints: config.requireObject<string[]>("endpoints"),
  ...config.requireObject<Record<string, unknown>>("compaction"),
});
`;

// TLS from stack secrets, as the README's program takes it.
const TLS_PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction } from "pulumi-etcd-quota";

const config = new pulumi.Config();
new EtcdCompaction("space", {
  endpoints: config.requireObject<string[]>("endpoints"),
  tls: { ca: config.requireSecret("ca"), cert: config.requireSecret("cert"), key: config.requireSecret("key") },
});
`;

describe("a misspelled input through the real pulumi CLI", function () {
  this.timeout(300_000);
  let cluster: LabCluster | undefined;
  let project: PulumiProject | undefined;

  afterEach(async () => {
    project?.remove();
    await cluster?.stop();
  });

  it("fails pulumi preview naming the input and the name it meant, and an up changes nothing", async () => {
    cluster = await LabCluster.start({ members: 1 });
    const [endpoint] = cluster.endpoints;
    project = await PulumiProject.create({ name: "typo", program: PROGRAM });
    await project.initStack("dev", {
      ...listConfig("endpoints", cluster.endpoints),
      compaction: JSON.stringify({ retainRevison: 1000 }),
    });
    const revisionBefore = (await statusOf(endpoint)).revision;

    const preview = await project.run(["preview", "--stack", "dev"], { check: false });
    assert.notEqual(preview.code, 0, preview.stdout);
    assert.match(preview.stdout + preview.stderr, /retainRevison: unknown input; did you mean retainRevisions\?/);
    const up = await project.run(["up", "--yes", "--stack", "dev"], { check: false });
    assert.notEqual(up.code, 0, up.stdout);
    assert.match(up.stdout + up.stderr, /retainRevison: unknown input; did you mean retainRevisions\?/);
    const state = await project.exportState("dev");
    assert.ok(!state.deployment.resources?.some((r) => r.type.endsWith(":EtcdCompaction")), "no resource was created");
    assert.equal((await statusOf(endpoint)).revision, revisionBefore, "nothing was compacted or written");
  });
});

describe("EtcdQuota's members in a shape that is not a list, through the real pulumi CLI", function () {
  this.timeout(300_000);
  let project: PulumiProject | undefined;

  afterEach(() => project?.remove());

  it("fails pulumi preview with check's message naming members, not a TypeError from the SDK", async () => {
    project = await PulumiProject.create({
      name: "members-shape",
      program: `
import * as pulumi from "@pulumi/pulumi";
import { EtcdQuota, QuotaMemberArgs } from "pulumi-etcd-quota";

const config = new pulumi.Config();
new EtcdQuota("quota", { quota: "4GiB", members: config.requireObject<QuotaMemberArgs[]>("members") });
`,
    });
    await project.initStack("dev", { members: "{}" });
    const preview = await project.run(["preview", "--stack", "dev"], { check: false });
    assert.notEqual(preview.code, 0, preview.stdout);
    const text = preview.stdout + preview.stderr;
    assert.match(text, /members: expected a non-empty list of \{ endpoint, configFile \}, got an? /);
    assert.doesNotMatch(text, /is not a function/);
  });
});

/**
 * What a run would change on a one-member cluster, read from etcd and the process: a lock or a test write moves the
 * revision, a compaction the compact revision, a defrag the DB file, a restart the pid.
 */
async function etcdState(cluster: LabCluster) {
  const client = new Etcd3(cluster.clientOptions());
  try {
    const status = await client.maintenance.status();
    return {
      revision: Number(status.header.revision),
      compactRevision: await compactRevisionOf(client),
      dbSize: Number(status.dbSize),
      pid: cluster.members[0].pid,
    };
  } finally {
    client.close();
  }
}

describe("access settings the cluster refuses, through the real pulumi CLI", function () {
  this.timeout(300_000);
  let cluster: LabCluster | undefined;
  let project: PulumiProject | undefined;
  const pkis: LabTls[] = [];
  let notEtcd: http.Server | undefined;

  afterEach(async () => {
    project?.remove();
    await cluster?.stop();
    for (const pki of pkis.splice(0)) pki.remove();
    notEtcd?.close();
  });

  it("a changed tls.ca that the members do not trust fails pulumi preview naming tls.ca, and up changes nothing", async () => {
    const [tls, otherCa] = [makeLabTls(), makeLabTls()];
    pkis.push(tls, otherCa);
    cluster = await LabCluster.start({ members: 1, tls });
    project = await PulumiProject.create({ name: "access", program: TLS_PROGRAM });
    await project.initStack("dev", {
      ...listConfig("endpoints", cluster.endpoints),
      ca: { secret: tls.ca },
      cert: { secret: tls.client.cert },
      key: { secret: tls.client.key },
    });
    await project.run(["up", "--yes", "--stack", "dev"]);
    assert.ok(await project.resource("dev", "EtcdCompaction"), "created with the right CA");
    // History a run would compact away.
    const writer = new Etcd3(cluster.clientOptions());
    try {
      for (let i = 0; i < 3; i++) await writer.put("access/history").value(String(i));
    } finally {
      writer.close();
    }
    const before = await etcdState(cluster);

    await project.setConfig("dev", { ca: { secret: otherCa.ca } });
    const preview = await project.run(["preview", "--stack", "dev"], { check: false });
    assert.notEqual(preview.code, 0, preview.stdout);
    const previewText = preview.stdout + preview.stderr;
    assert.match(
      previewText,
      /tls\.ca: https:\/\/127\.0\.0\.1:\d+: status: TLS: the member's certificate is not signed by the CA in tls\.ca/,
    );
    const up = await project.run(["up", "--yes", "--stack", "dev"], { check: false });
    assert.notEqual(up.code, 0, up.stdout);
    assert.match(up.stdout + up.stderr, /tls\.ca: /);
    assert.deepEqual(await etcdState(cluster), before, "nothing written, compacted, defragmented or restarted");
  });

  it("an endpoint where something else than etcd answers fails pulumi preview naming it", async () => {
    notEtcd = http.createServer((_request, response) => response.writeHead(404).end());
    await new Promise<void>((resolve) => notEtcd!.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(notEtcd.address() as net.AddressInfo).port}`;
    project = await PulumiProject.create({ name: "not-etcd", program: PROGRAM });
    await project.initStack("dev", { ...listConfig("endpoints", [url]), compaction: "{}" });
    const preview = await project.run(["preview", "--stack", "dev"], { check: false });
    assert.notEqual(preview.code, 0, preview.stdout);
    assert.match(
      preview.stdout + preview.stderr,
      new RegExp(`endpoints\\[0\\]: ${url.replace(/\./g, "\\.")}: status: what answers here is not etcd's client API`),
    );
  });
});
