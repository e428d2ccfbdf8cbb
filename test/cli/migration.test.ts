import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { listConfig, pluginTarball, PulumiProject, type StackExport } from "../../lab/pulumi-cli";
import { SupervisedCluster } from "../../lab/supervisor";
import { assertUntouched, fingerprint } from "../support/untouched";

const MiB = 1024 ** 2;
const DYNAMIC = {
  quota: "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota",
  space: "pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction",
};
const PLUGIN = { quota: "etcdquota:index:EtcdQuota", space: "etcdquota:index:EtcdCompaction" };

/** Both resources through the package's dynamic classes, each aliased to its plugin type (the way back). */
const OVER_DYNAMIC_CLASSES = `
import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction, EtcdQuota, QuotaMemberArgs } from "pulumi-etcd-quota";

const config = new pulumi.Config();
const members = config.requireObject<QuotaMemberArgs[]>("members");
const quota = new EtcdQuota("quota", { quota: config.require("quota"), members }, { aliases: [{ type: "${PLUGIN.quota}" }] });
new EtcdCompaction(
  "space",
  { endpoints: members.map((m) => m.endpoint) },
  { dependsOn: [quota], aliases: [{ type: "${PLUGIN.space}" }] },
);
`;

/**
 * Both resources through the plugin, each aliased to its dynamic type. The classes are what any SDK generated from
 * plugin/schema.json is: a CustomResource with the type token, the inputs passed through.
 */
const OVER_PLUGIN = `
import * as pulumi from "@pulumi/pulumi";

class PluginResource extends pulumi.CustomResource {
  constructor(type: string, name: string, args: pulumi.Inputs, opts?: pulumi.CustomResourceOptions) {
    super(type, name, args, opts);
  }
}

const config = new pulumi.Config();
const members = config.requireObject<{ endpoint: string }[]>("members");
const quota = new PluginResource("${PLUGIN.quota}", "quota", { quota: config.require("quota"), members }, {
  aliases: [{ type: "${DYNAMIC.quota}" }],
});
new PluginResource("${PLUGIN.space}", "space", { endpoints: members.map((m) => m.endpoint) }, {
  dependsOn: [quota],
  aliases: [{ type: "${DYNAMIC.space}" }],
});
`;

/** Each resource's type, ID and creation time, by name: a replacement would change the ID or the creation time. */
function identities(state: StackExport): Record<string, { type: string; id?: string; created?: string }> {
  const ours = (state.deployment.resources ?? []).filter((r) => /EtcdQuota$|EtcdCompaction$/.test(r.type));
  return Object.fromEntries(
    ours.map((r) => [
      r.urn.split("::").pop()!,
      { type: r.type, id: r.id, created: (r as { created?: string }).created },
    ]),
  );
}

describe("moving a stack between the dynamic classes and the plugin with aliases, through the real pulumi CLI", function () {
  this.timeout(900_000);
  let cluster: SupervisedCluster | undefined;
  let project: PulumiProject | undefined;

  afterEach(async () => {
    project?.remove();
    await cluster?.stop();
  });

  it("dynamic -> plugin -> dynamic: no replacement, no restart, no write to a file or to etcd", async () => {
    cluster = await SupervisedCluster.start({ format: "systemd-unit", quotaBytes: 64 * MiB });
    const supervised = cluster;
    project = await PulumiProject.create({ name: "etcd-migrate", program: OVER_DYNAMIC_CLASSES });
    await project.installPlugin(await pluginTarball());
    await project.initStack("dev", { quota: "64MiB", ...listConfig("members", supervised.quotaMembers()) });
    await project.run(["up", "--yes", "--stack", "dev"]);
    const written = identities(await project.exportState("dev"));
    assert.deepEqual(
      Object.fromEntries(Object.entries(written).map(([name, r]) => [name, r.type])),
      DYNAMIC,
      "the stack as the dynamic classes wrote it",
    );
    const before = await fingerprint(supervised);

    const moves: [string, Record<string, string>][] = [
      [OVER_PLUGIN, PLUGIN],
      [OVER_DYNAMIC_CLASSES, DYNAMIC],
    ];
    for (const [program, types] of moves) {
      fs.writeFileSync(path.join(project.dir, "index.ts"), program);
      const up = await project.run(["up", "--yes", "--diff", "--stack", "dev"]);
      assert.doesNotMatch(
        up.stdout,
        /(EtcdQuota|EtcdCompaction): \((create|replace|delete|create-replacement|delete-replaced|update)\)/,
        up.stdout,
      );
      const now = identities(await project.exportState("dev"));
      for (const name of ["quota", "space"]) {
        assert.equal(now[name]?.type, types[name], `${name} is now ${types[name]}`);
        assert.equal(now[name].id, written[name].id, `${name} kept its ID`);
        assert.equal(now[name].created, written[name].created, `${name} was not created again`);
      }
      assert.equal(Object.keys(now).length, 2, "no resource left behind under its old type");
      await assertUntouched(supervised, before, `moved to ${types.quota}`);
      if (types === PLUGIN) {
        // The plugin takes the state the dynamic classes left as its own: a refresh finds nothing to change.
        const preview = await project.run(["preview", "--refresh", "--expect-no-changes", "--stack", "dev"], {
          check: false,
        });
        assert.equal(preview.code, 0, preview.stdout + preview.stderr);
      }
    }
  });
});
