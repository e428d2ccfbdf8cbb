import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { pluginTarball, PulumiProject } from "../../lab/pulumi-cli";
import { SupervisedCluster } from "../../lab/supervisor";
import { assertUntouched, fingerprint } from "../support/untouched";

const MiB = 1024 ** 2;
const COMPACTION = "etcdquota:index:EtcdCompaction";

/** EtcdCompaction over the cluster's endpoints, adopted with the `import` option when `importId` is given. */
function program(endpoints: readonly string[], importId?: string): string {
  return `resources:
  space:
    type: ${COMPACTION}
    properties:
      endpoints: ${JSON.stringify(endpoints)}
${importId === undefined ? "" : `    options:\n      import: ${JSON.stringify(importId)}\n`}`;
}

describe("adopting a running cluster with the plugin's import, through the real pulumi CLI", function () {
  this.timeout(900_000);
  let cluster: SupervisedCluster | undefined;
  let project: PulumiProject | undefined;

  before(async () => {
    cluster = await SupervisedCluster.start({ format: "systemd-unit", quotaBytes: 64 * MiB });
    project = PulumiProject.createYaml({ name: "etcd-import", program: "" });
    await project.installPlugin(await pluginTarball());
  });

  after(async () => {
    project?.remove();
    await cluster?.stop();
  });

  it("the import option: preview shows an import and no change, and nothing restarts, is written or is stored in etcd", async () => {
    const supervised = cluster!;
    const id = supervised.endpoints.join(",");
    project!.writeYaml("etcd-import", program(supervised.endpoints, id));
    await project!.run(["stack", "init", "option"]);
    const before = await fingerprint(supervised);

    const preview = await project!.run(["preview", "--diff", "--stack", "option"]);
    assert.match(preview.stdout, new RegExp(`= ${COMPACTION}: \\(import\\)`));
    assert.match(preview.stdout, /= 1 to import/);
    // The stack itself is the one thing created.
    assert.doesNotMatch(preview.stdout, new RegExp(`${COMPACTION}: \\((create|update|replace)`));
    assert.match(preview.stdout, /\+ 1 to create\n\s+= 1 to import\n/);
    await project!.run(["up", "--yes", "--stack", "option"]);
    const space = await project!.resource("option", "EtcdCompaction");
    assert.equal(space?.type, COMPACTION);
    assert.equal(space?.id, id, "the ID is the endpoints, as given");
    assert.deepEqual(space?.inputs?.endpoints, supervised.endpoints);

    // Adopted: the program, now without the option, has nothing to change after a refresh.
    project!.writeYaml("etcd-import", program(supervised.endpoints));
    const again = await project!.run(["preview", "--refresh", "--expect-no-changes", "--stack", "option"], {
      check: false,
    });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    await assertUntouched(supervised, before, "import option");
  });

  it("pulumi import with the README's ID (the client URLs, comma-separated): stored, code generated, nothing touched", async () => {
    const supervised = cluster!;
    const id = supervised.endpoints.join(",");
    project!.writeYaml("etcd-import", "");
    await project!.run(["stack", "init", "cli"]);
    const before = await fingerprint(supervised);
    const generated = path.join(project!.dir, "generated.yaml");

    await project!.run(["import", COMPACTION, "space", id, "--yes", "--stack", "cli", "--out", generated]);
    const space = await project!.resource("cli", "EtcdCompaction");
    assert.equal(space?.type, COMPACTION);
    assert.equal(space?.id, id);
    assert.deepEqual(space?.inputs?.endpoints, supervised.endpoints);

    // The code `pulumi import` wrote is a program the stack agrees with: no change after a refresh.
    const code = fs.readFileSync(generated, "utf8");
    // The code generator writes the type's short form, etcdquota:EtcdCompaction.
    assert.match(code, /type: etcdquota:(index:)?EtcdCompaction\n/);
    project!.writeYaml("etcd-import", code);
    const preview = await project!.run(["preview", "--refresh", "--expect-no-changes", "--stack", "cli"], {
      check: false,
    });
    assert.equal(preview.code, 0, `${code}\n${preview.stdout}${preview.stderr}`);
    await assertUntouched(supervised, before, "pulumi import");
  });
});
