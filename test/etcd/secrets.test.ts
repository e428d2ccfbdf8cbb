import * as assert from "node:assert/strict";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LabCluster } from "../../lab/cluster";
import { EngineStack, isSecret, ProviderHost, secret } from "../support/engine";
import type { LabTls } from "../../lab/tls";
import { makeLabTls } from "../../lab/tls";
import { providerShim, SECRET_OUTPUTS } from "../../sdk/shim";
import type { TestSshd } from "../support/sshd";
import { generateKey, startSshd } from "../support/sshd";
import { PulumiProject } from "../../lab/pulumi-cli";

const MiB = 1024 ** 2;
const COMPACTION = "pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction";
const QUOTA = "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota";

/** What the engine's secrets manager writes for a secret: `rawState()` shows it as this shape. */
function isCiphertext(value: unknown): boolean {
  return typeof value === "object" && value !== null && "ciphertext" in value;
}

/**
 * Needles that find a secret however it was stored: the whole value, and every line of a multi-line secret (PEM
 * and OpenSSH bodies) long enough to be distinctive, so a secret cut up or re-wrapped is found too.
 */
function needlesOf(name: string, value: string): [string, string][] {
  const lines = value
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length >= 16 && !line.startsWith("-----"));
  return [[name, value], ...lines.map((line, i): [string, string] => [`${name} line ${i + 1}`, line])];
}

/** Where in a JSON document (as `a.b[0].c` paths) a string holds one of the needles; empty when none does. */
function leaks(json: string, needles: readonly [string, string][]): string[] {
  const found: string[] = [];
  const walk = (value: unknown, at: string): void => {
    if (typeof value === "string") {
      for (const [name, needle] of needles) if (value.includes(needle)) found.push(`${at} holds ${name}`);
    } else if (Array.isArray(value)) {
      value.forEach((element, i) => walk(element, `${at}[${i}]`));
    } else if (value !== null && typeof value === "object") {
      for (const [key, element] of Object.entries(value)) walk(element, at === "" ? key : `${at}.${key}`);
    }
  };
  walk(JSON.parse(json), "");
  // Belt and braces: the text itself (as JSON escapes it), in case a secret sits in a key name.
  if (found.length === 0) {
    for (const [name, needle] of needles) {
      if (json.includes(JSON.stringify(needle).slice(1, -1))) found.push(`text holds ${name}`);
    }
  }
  return [...new Set(found)];
}

describe("secrets stay out of the engine's state (real etcd with TLS and auth, SSH to the test sshd)", function () {
  this.timeout(120_000);

  let host: ProviderHost | undefined;
  let sshd: TestSshd | undefined;
  let tls: LabTls | undefined;
  let cluster: LabCluster | undefined;
  let dir: string | undefined;
  const password = `pw-${randomBytes(12).toString("hex")}`;
  const quotaBytes = 64 * MiB;

  before(async () => {
    tls = makeLabTls();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-quota-secrets-test-"));
    [host, sshd, cluster] = await Promise.all([
      ProviderHost.start(),
      startSshd(),
      // One member is enough here: what is stored does not depend on how many there are.
      LabCluster.start({ members: 1, quotaBytes, tls, auth: { rootPassword: password } }),
    ]);
  });
  after(async () => {
    // Each stop runs even when another throws: nothing started here may outlive the file.
    const results = await Promise.allSettled([host?.stop(), sshd?.stop(), cluster?.stop()]);
    tls?.remove();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  });

  /** Every secret the programs below pass, by name. */
  function needles(): [string, string][] {
    return [
      ...needlesOf("the TLS client key", tls!.client.key),
      ...needlesOf("the password", password),
      ...needlesOf("the SSH private key", sshd!.privateKey),
    ];
  }

  /** `tls`, `username` and `password` as a program passes them from secret config (`pulumi.secret(...)`). */
  function access() {
    return {
      tls: secret({ ca: tls!.ca, cert: tls!.client.cert, key: tls!.client.key }),
      username: "root",
      password: secret(password),
    };
  }

  /** The checks every stack must pass once its steps ran. */
  function assertNoLeak(stack: EngineStack): void {
    // The search itself finds each secret, whole or as one of its lines.
    const control = { a: password, b: [tls!.client.key], c: { d: sshd!.privateKey.split("\n").slice(2, 4).join(" ") } };
    assert.deepEqual(
      [...new Set(leaks(JSON.stringify(control), needles()).map((at) => at.replace(/ line \d+$/, "")))],
      ["a holds the password", "b[0] holds the TLS client key", "c.d holds the SSH private key"],
    );
    const raw = stack.rawState();
    assert.deepEqual(leaks(raw, needles()), [], `no secret in plaintext in the state:\n${raw}`);
    // The serialized provider is the shim: it loads the installed package and captures no value of the program.
    const state = JSON.parse(raw) as {
      resources: { inputs: Record<string, unknown>; outputs: Record<string, unknown> }[];
    };
    assert.ok(state.resources.length > 0);
    for (const resource of state.resources) {
      for (const provider of [resource.inputs.__provider, resource.outputs.__provider]) {
        assert.equal(typeof provider, "string", "the provider is stored in the clear: it must hold no secret");
        assert.match(provider as string, /require\("pulumi-etcd-quota\/provider"\)/);
        assert.ok((provider as string).length < 4000, `a small shim, not the provider: ${(provider as string).length}`);
        assert.deepEqual(leaks(JSON.stringify({ provider }), needles()), [], "__provider holds no secret");
      }
      assert.ok(isCiphertext(resource.inputs.tls) && isCiphertext(resource.inputs.password), "secret inputs");
    }
  }

  it("EtcdCompaction: tls and password are ciphertext in inputs and outputs through create, refresh and update", async () => {
    const stack = new EngineStack(host!, {
      provider: providerShim("compaction"),
      type: COMPACTION,
      additionalSecretOutputs: SECRET_OUTPUTS.compaction,
    });
    const inputs = { endpoints: cluster!.endpoints, ...access() };
    assert.deepEqual((await stack.preview("space", inputs)).failures, []);
    const created = await stack.up("space", inputs);
    assert.equal(created.op, "create");
    assert.ok(isSecret(created.outputs!.tls) && isSecret(created.outputs!.password), "re-marked as their inputs");
    assert.equal(created.outputs!.maintenance, "up-to-date", "it really ran, over TLS and as root");
    await stack.refresh("space");
    const updated = await stack.up("space", { ...inputs, triggers: [1] });
    assert.equal(updated.op, "update");
    assertNoLeak(stack);
    const logs = host!.logs.join("\n");
    assert.deepEqual(leaks(JSON.stringify({ logs }), needles()), [], "the provider never prints a secret");
  });

  it("EtcdQuota: tls, password and the SSH key in members stay ciphertext, memberSpecs by additionalSecretOutputs", async () => {
    const files = new Map(
      cluster!.members.map((m) => {
        const file = path.join(dir!, `${m.name}.conf.yml`);
        fs.writeFileSync(file, `name: ${m.name}\nquota-backend-bytes: ${quotaBytes}\n`);
        return [m.name, file];
      }),
    );
    const stack = new EngineStack(host!, {
      provider: providerShim("quota"),
      type: QUOTA,
      additionalSecretOutputs: SECRET_OUTPUTS.quota,
    });
    const inputs = {
      quota: "64MiB",
      // With a private key in it, the SDK makes the whole list secret (sdk/quota.ts secretIfCredentials).
      members: secret(
        cluster!.members.map((m) => ({
          endpoint: m.clientUrl,
          configFile: files.get(m.name)!,
          format: "etcd-config",
          restartCommand: "exit 1",
          connection: {
            host: "127.0.0.1",
            port: sshd!.port,
            user: sshd!.user,
            privateKey: sshd!.privateKey,
            hostKey: sshd!.hostKey,
          },
        })),
      ),
      restartTimeout: "30s",
      ...access(),
    };
    assert.deepEqual((await stack.preview("quota", inputs)).failures, []);
    const created = await stack.up("quota", inputs);
    assert.equal(created.op, "create");
    const records = (created.outputs!.members as { value: { liveBytes: number; configuredBytes: number }[] }).value;
    assert.ok(
      records.every((r) => r.liveBytes === quotaBytes && r.configuredBytes === quotaBytes),
      "it really read every member over TLS as root, and every file over SSH",
    );
    await stack.refresh("quota");
    assert.equal((await stack.previewRefresh("quota", inputs)).op, "same");
    await stack.up("quota", { ...inputs, restartTimeout: "31s" });

    assertNoLeak(stack);
    const logs = host!.logs.join("\n");
    assert.deepEqual(leaks(JSON.stringify({ logs }), needles()), [], "the provider never prints a secret");
  });
});

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? filesUnder(path.join(dir, entry.name)) : [path.join(dir, entry.name)]));
}

/** Which needles a text holds, as is or as JSON escapes it (a multi-line key's newlines become `\n`). */
function plaintextIn(text: string, needles: readonly [string, string][]): string[] {
  return needles
    .filter(([, needle]) => text.includes(needle) || text.includes(JSON.stringify(needle).slice(1, -1)))
    .map(([name]) => name);
}

describe("secrets stay out of the state through the real pulumi CLI (etcd password, encrypted SSH keys, a jump host)", function () {
  this.timeout(300_000);
  const passwords = {
    etcd: `etcd-pw-${randomBytes(12).toString("hex")}`,
    memberKey: `member-key-pw-${randomBytes(12).toString("hex")}`,
    jumpKey: `jump-key-pw-${randomBytes(12).toString("hex")}`,
  };
  let cluster: LabCluster | undefined;
  let member: TestSshd | undefined;
  let jump: TestSshd | undefined;
  let project: PulumiProject | undefined;

  afterEach(async () => {
    project?.remove();
    const results = await Promise.allSettled([member?.stop(), jump?.stop(), cluster?.stop()]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  });

  it("pulumi stack export and every file of the file:// backend hold none of them; the run really used them", async () => {
    const quotaBytes = 64 * MiB;
    [cluster, member, jump] = await Promise.all([
      LabCluster.start({ members: 1, quotaBytes, auth: { rootPassword: passwords.etcd } }),
      startSshd(),
      startSshd(),
    ]);
    // Keys encrypted with a passphrase (privateKeyPassword), each host accepting only its own.
    const memberKey = generateKey(member.dir, "encrypted_member", "ed25519", passwords.memberKey);
    fs.writeFileSync(path.join(member.dir, "authorized_keys"), `${memberKey.publicKey}\n`);
    const jumpKey = generateKey(jump.dir, "encrypted_jump", "ed25519", passwords.jumpKey);
    fs.writeFileSync(path.join(jump.dir, "authorized_keys"), `${jumpKey.publicKey}\n`);
    const [etcd] = cluster.members;
    const configFile = path.join(member.dir, "etcd.conf.yml");
    fs.writeFileSync(configFile, `name: ${etcd.name}\nquota-backend-bytes: ${quotaBytes}\n`);

    project = await PulumiProject.create({
      name: "secrets",
      program: `
import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction, EtcdQuota } from "pulumi-etcd-quota";

const config = new pulumi.Config();
const password = config.requireSecret("etcdPassword");
const quota = new EtcdQuota("quota", {
  quota: "64MiB",
  username: "root",
  password,
  // The lab's member listens on plain http on 127.0.0.1.
  allowInsecureCredentials: true,
  members: [{
    endpoint: config.require("endpoint"),
    configFile: config.require("configFile"),
    format: "etcd-config",
    restartCommand: "exit 1",
    connection: {
      host: "127.0.0.1",
      port: config.requireNumber("memberPort"),
      privateKey: config.requireSecret("memberKey"),
      privateKeyPassword: config.requireSecret("memberKeyPassword"),
      hostKey: config.require("memberHostKey"),
      proxy: {
        host: "127.0.0.1",
        port: config.requireNumber("jumpPort"),
        privateKey: config.requireSecret("jumpKey"),
        privateKeyPassword: config.requireSecret("jumpKeyPassword"),
        hostKey: config.require("jumpHostKey"),
      },
    },
  }],
});
new EtcdCompaction(
  "space",
  { endpoints: [config.require("endpoint")], username: "root", password, allowInsecureCredentials: true },
  { dependsOn: [quota] },
);
export const members = quota.members;
`,
    });
    await project.initStack("dev", {
      endpoint: etcd.clientUrl,
      configFile,
      memberPort: String(member.port),
      memberHostKey: member.hostKey,
      jumpPort: String(jump.port),
      jumpHostKey: jump.hostKey,
      etcdPassword: { secret: passwords.etcd },
      memberKey: { secret: memberKey.privateKey },
      memberKeyPassword: { secret: passwords.memberKey },
      jumpKey: { secret: jumpKey.privateKey },
      jumpKeyPassword: { secret: passwords.jumpKey },
    });
    const up = await project.run(["up", "--yes", "--stack", "dev"]);
    const refresh = await project.run(["refresh", "--yes", "--stack", "dev"]);

    // The run used every credential: the file was read through the jump host, etcd answered as root.
    const [record] = (await project.outputs("dev")).members as { configuredBytes: number; liveBytes: number }[];
    assert.equal(record.configuredBytes, quotaBytes, "the member's file was read over SSH through the jump host");
    assert.equal(record.liveBytes, quotaBytes, "etcd answered with the password");

    const needles: [string, string][] = [
      ...needlesOf("the etcd password", passwords.etcd),
      ...needlesOf("the member's SSH key", memberKey.privateKey),
      ...needlesOf("the member key's passphrase", passwords.memberKey),
      ...needlesOf("the jump host's SSH key", jumpKey.privateKey),
      ...needlesOf("the jump host key's passphrase", passwords.jumpKey),
    ];
    // The search finds each one where it is.
    const control = JSON.stringify([...Object.values(passwords), memberKey.privateKey, jumpKey.privateKey]);
    assert.deepEqual(plaintextIn(control, needles).sort(), needles.map(([name]) => name).sort());
    const exported = (await project.run(["stack", "export", "--stack", "dev"])).stdout;
    assert.ok(exported.includes("EtcdQuota") && exported.includes("ciphertext"), exported);
    assert.deepEqual(plaintextIn(exported, needles), [], "pulumi stack export");
    const backend = new URL(project.env().PULUMI_BACKEND_URL!).pathname;
    const files = filesUnder(backend);
    assert.ok(
      files.some((f) => f.endsWith("/dev.json")),
      files.join("\n"),
    );
    for (const file of files) assert.deepEqual(plaintextIn(fs.readFileSync(file, "latin1"), needles), [], file);
    for (const run of [up, refresh]) assert.deepEqual(plaintextIn(run.stdout + run.stderr, needles), []);
  });
});
