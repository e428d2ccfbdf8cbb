import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { listConfig, PulumiProject } from "../../lab/pulumi-cli";
import { BOTH_RESOURCES } from "./programs";
import { SupervisedCluster } from "../../lab/supervisor";
import { liveQuota } from "../support/files";

const MiB = 1024 ** 2;
const NEWER = "0.1.1-upgrade-test";

/**
 * The `__provider` that version 0.1.0 wrote into the state of each resource: the serialized shim, which loads
 * `pulumi-etcd-quota/provider` from the program's node_modules. These files are the contract with every stack
 * created by 0.1.0: a later version must keep that module path, the `providers` export and its keys working.
 */
const STATE_WRITTEN_BY_0_1_0 = {
  EtcdCompaction: fs.readFileSync(path.join(__dirname, "fixtures", "provider-0.1.0-compaction.txt"), "utf8"),
  EtcdQuota: fs.readFileSync(path.join(__dirname, "fixtures", "provider-0.1.0-quota.txt"), "utf8"),
};

/** Installs a newer build over the program's copy of the package, as `npm install pulumi-etcd-quota@next` would. */
function installNewerBuild(project: PulumiProject): void {
  const dir = path.join(project.dir, "node_modules", "pulumi-etcd-quota");
  // node_modules is hard-linked to the shared install: replace files, never write into them.
  const replace = (file: string, text: string) => {
    fs.rmSync(file);
    fs.writeFileSync(file, text);
  };
  const manifest = path.join(dir, "package.json");
  replace(manifest, JSON.stringify({ ...JSON.parse(fs.readFileSync(manifest, "utf8")), version: NEWER }, null, 2));
  const entry = path.join(dir, "dist", "provider", "index.js");
  replace(entry, `console.log("pulumi-etcd-quota ${NEWER} loaded");\n${fs.readFileSync(entry, "utf8")}`);
}

describe("upgrading the package under a stack written by 0.1.0, through the real pulumi CLI", function () {
  this.timeout(600_000);
  let cluster: SupervisedCluster | undefined;
  let project: PulumiProject | undefined;

  afterEach(async () => {
    project?.remove();
    await cluster?.stop();
  });

  it("refresh, up and destroy run the newer code installed today with 0.1.0's __provider in the state", async () => {
    cluster = await SupervisedCluster.start({ format: "systemd-unit", quotaBytes: 128 * MiB });
    project = await PulumiProject.create({ name: "upgrade", program: BOTH_RESOURCES });
    await project.initStack("dev", { quota: "128MiB", ...listConfig("members", cluster.quotaMembers()) });
    const pids = () => ["m1", "m2", "m3"].map((name) => cluster!.pid(name));
    const running = pids();
    await project.run(["up", "--yes", "--stack", "dev"]);
    // Adopting a cluster (no import for dynamic resources): creating EtcdQuota with the quota it runs restarts nothing.
    assert.deepEqual(pids(), running, "no member was restarted by the create");

    const state = await project.exportState("dev");
    let replaced = 0;
    for (const resource of state.deployment.resources ?? []) {
      const kind = resource.type.split(":").pop() as keyof typeof STATE_WRITTEN_BY_0_1_0;
      if (!(kind in STATE_WRITTEN_BY_0_1_0)) continue;
      resource.inputs!.__provider = resource.outputs!.__provider = STATE_WRITTEN_BY_0_1_0[kind];
      // 0.1.0 had no `resourceName` (the label of progress lines), which 0.2.0 added.
      delete resource.inputs!.resourceName;
      delete resource.outputs!.resourceName;
      replaced++;
    }
    assert.equal(replaced, 2);
    const stateFile = path.join(project.dir, "state-0.1.0.json");
    fs.writeFileSync(stateFile, JSON.stringify(state));
    await project.run(["stack", "import", "--stack", "dev", "--file", stateFile]);

    installNewerBuild(project);
    const loaded = new RegExp(`pulumi-etcd-quota ${NEWER.replace(/\./g, "\\.")} loaded`);

    const refresh = await project.run(["refresh", "--yes", "--stack", "dev"]);
    assert.match(refresh.stdout, loaded);
    // State from before 0.2.0 has no name to show, and a refresh does not invent one ...
    assert.doesNotMatch(refresh.stdout, /EtcdQuota quota(?: \(cluster [0-9a-f]+\))?: /);
    const named = async () => (await project!.resource("dev", "EtcdQuota"))?.inputs?.resourceName;
    assert.equal(await named(), undefined, "the refresh kept the state without a name");

    await project.setConfig("dev", { quota: "192MiB" });
    const up = await project.run(["up", "--yes", "--stack", "dev"]);
    assert.match(up.stdout, loaded);
    // ... the next update shows it, and stores it for every run after.
    assert.match(up.stdout, /EtcdQuota quota \(cluster [0-9a-f]+\): m\d: back with quota 192 MiB/);
    assert.equal(await named(), "quota", "the update stored the name");
    for (const member of cluster.lab.members) {
      assert.equal(await liveQuota(member.clientUrl), 192 * MiB, `${member.name} runs the new quota`);
    }

    const destroy = await project.run(["destroy", "--yes", "--stack", "dev"]);
    assert.match(destroy.stdout, loaded);
    assert.deepEqual((await project.exportState("dev")).deployment.resources ?? [], []);
  });
});
