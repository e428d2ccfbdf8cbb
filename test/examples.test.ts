import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { compactionSettings } from "../provider/inputs/compaction";
import { quotaSettings } from "../provider/inputs/quota";
import { parseSize } from "../provider/values/size";
import { generateKey } from "./support/sshd";

const EXAMPLES = resolve(__dirname, "..", "examples");
const QUOTA_TYPE = "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota";
const COMPACTION_TYPE = "pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction";

/**
 * Throwaway TLS material made with `openssl`, shaped like kubeadm's: an etcd CA and a client certificate it signed
 * (the stand-in for healthcheck-client.crt/.key), so any check the provider makes of the PEM texts sees real ones.
 */
function makeTls(dir: string): { ca: string; cert: string; key: string } {
  const ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  for (const command of [
    `req -x509 ${ec} -keyout ca.key -out ca.crt -subj /CN=etcd-ca -days 1`,
    `req ${ec} -keyout client.key -out client.csr -subj /CN=kube-etcd-healthcheck-client`,
    "x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 1",
  ]) {
    execFileSync("openssl", command.split(" "), { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  }
  const read = (name: string) => readFileSync(join(dir, name), "utf8");
  return { ca: read("ca.crt"), cert: read("client.crt"), key: read("client.key") };
}

/**
 * The secrets each stack's README says to set with `pulumi config set --secret`; they are not in the checked-in
 * stack files (which could only hold them as ciphertext).
 */
const SECRETS: Record<string, Record<string, readonly ("sshPrivateKey" | "tls")[]>> = {
  "per-environment": { dev: ["sshPrivateKey"], prod: ["sshPrivateKey", "tls"] },
};

interface Registered {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
  /** The resource options the SDK class passed on (both are custom resources), seen by a stack transformation. */
  opts?: pulumi.CustomResourceOptions;
}

interface ProgramRun {
  readonly project: string;
  readonly config: Record<string, string>;
  readonly registered: Registered[];
  readonly outputs: Record<string, unknown>;
}

/** A secret as the mocks receive it: `{ [sig]: secretSig, value }`. */
function isSecret(value: unknown): value is { value: unknown } {
  return pulumi.runtime.isRpcSecret(value);
}

/** The value with every secret unwrapped, as the engine hands inputs to a dynamic provider. */
function reveal(value: unknown): unknown {
  if (isSecret(value)) return reveal(value.value);
  if (Array.isArray(value)) return value.map(reveal);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, element]) => [key, reveal(element)]));
  }
  return value;
}

/** Strings containing `needle` that are not inside a secret, as paths. */
function plaintextPaths(value: unknown, needle: string, at = ""): string[] {
  if (isSecret(value)) return [];
  if (typeof value === "string") return value.includes(needle) ? [at] : [];
  if (Array.isArray(value)) return value.flatMap((element, i) => plaintextPaths(element, needle, `${at}[${i}]`));
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([key, element]) => plaintextPaths(element, needle, `${at}.${key}`));
  }
  return [];
}

/**
 * What the Pulumi CLI hands a program for `stack`: Pulumi.<stack>.yaml's `project:key` values as strings (objects as
 * JSON), plus the defaults Pulumi.yaml declares for keys the stack does not set.
 */
function stackConfig(dir: string, stack: string): { project: string; config: Record<string, string> } {
  const project = parseYaml(readFileSync(join(dir, "Pulumi.yaml"), "utf8")) as {
    name: string;
    config?: Record<string, { default?: unknown }>;
  };
  const settings = parseYaml(readFileSync(join(dir, `Pulumi.${stack}.yaml`), "utf8")) as {
    config?: Record<string, unknown>;
  };
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(settings.config ?? {})) {
    assert.ok(key.startsWith(`${project.name}:`), `${stack}: ${key} is in the project's namespace`);
    const secure = typeof value === "object" && value !== null && "secure" in value;
    assert.ok(!secure, `${stack}: ${key} is ciphertext this test cannot decrypt; set it in SECRETS instead`);
    config[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  for (const [key, declared] of Object.entries(project.config ?? {})) {
    const full = `${project.name}:${key}`;
    if (!(full in config) && declared.default !== undefined) config[full] = String(declared.default);
  }
  return { project: project.name, config };
}

function stacksOf(dir: string): string[] {
  return readdirSync(dir)
    .map((file) => /^Pulumi\.(.+)\.yaml$/.exec(file)?.[1])
    .filter((stack): stack is string => stack !== undefined)
    .sort();
}

/** Plausible outputs for the mocks: what the providers would report after converging. */
function mockOutputs(type: string, inputs: Record<string, unknown>): Record<string, unknown> {
  if (type === QUOTA_TYPE) {
    const quotaBytes = parseSize(inputs.quota, "quota");
    const members = reveal(inputs.members) as { endpoint: string; configFile: string; format: string }[];
    const records = members.map((member, i) => ({
      endpoint: member.endpoint,
      name: `m${i + 1}`,
      configFile: member.configFile,
      format: member.format,
      configuredBytes: quotaBytes,
      liveBytes: quotaBytes,
      restarted: true,
      backupPath: null,
    }));
    // The engine marks an output secret when the input of the same name is (a dynamic provider cannot).
    const secretRecords = isSecret(inputs.members)
      ? { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value: records }
      : records;
    return { ...inputs, quotaBytes, members: secretRecords, memberSpecs: inputs.members, plan: [], alarmsDisarmed: [] };
  }
  if (type === COMPACTION_TYPE) {
    return {
      ...inputs,
      clusterId: "cdf818194e3a8c32",
      compactedRevision: null,
      reclaimedBytes: 0,
      alarmsDisarmed: [],
      members: [],
      maintenance: "up-to-date",
      plan: [],
      liveMembers: [],
      alarms: [],
    };
  }
  return { ...inputs };
}

/**
 * Runs the example's index.ts as the Pulumi language host does (`runInPulumiStack(() => require(program))`), under
 * mocks, with the stack's config and `secrets` set as secret config. The module is loaded fresh each time.
 */
async function runProgram(dir: string, stack: string, secrets: Record<string, string>): Promise<ProgramRun> {
  const { project, config } = stackConfig(dir, stack);
  const secretKeys = Object.keys(secrets).map((key) => `${project}:${key}`);
  const all = { ...config, ...Object.fromEntries(Object.entries(secrets).map(([k, v]) => [`${project}:${k}`, v])) };
  const registered: Registered[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        if (args.type === "pulumi:pulumi:Stack") return { id: undefined, state: {} };
        registered.push({ type: args.type, name: args.name, inputs: args.inputs });
        return { id: `${args.name}-id`, state: mockOutputs(args.type, args.inputs) };
      },
      call: () => ({}),
    },
    project,
    stack,
    false,
  );
  pulumi.runtime.setAllConfig(all, secretKeys);

  const program = require.resolve(join(dir, "index.ts"));
  delete require.cache[program];
  const options = new Map<string, pulumi.ResourceOptions>();
  const outputs = await pulumi.runtime.runInPulumiStack(async () => {
    // Resource transforms (the successor) need the engine's callback server, which the mocks do not provide.
    pulumi.runtime.registerStackTransformation((args) => {
      options.set(args.name, args.opts);
      return undefined;
    });
    return require(program);
  });
  for (const entry of registered) entry.opts = options.get(entry.name) as pulumi.CustomResourceOptions | undefined;
  return { project, config: all, registered, outputs: (outputs ?? {}) as Record<string, unknown> };
}

describe("examples, run under Pulumi's mocks with each stack's config", function () {
  // Loading an example compiles it with ts-node and the package's dist/ SDK on first use.
  this.timeout(60_000);

  let keys: string;
  let privateKey: string;
  let tls: { ca: string; cert: string; key: string };
  /** The mocks and config in place before (test/sdk.test.ts installs its mocks when mocha loads it). */
  let previous: { mocks?: pulumi.runtime.Mocks; project: string; stack: string; dryRun: boolean } | undefined;
  let previousConfig: Record<string, string>;

  before(() => {
    keys = mkdtempSync(join(tmpdir(), "etcd-quota-example-keys-"));
    privateKey = generateKey(keys, "operator").privateKey;
    tls = makeTls(keys);
    const monitor = pulumi.runtime.getMonitor() as { mocks?: pulumi.runtime.Mocks } | undefined;
    previous = monitor?.mocks
      ? {
          mocks: monitor.mocks,
          project: pulumi.getProject(),
          stack: pulumi.getStack(),
          dryRun: pulumi.runtime.isDryRun(),
        }
      : undefined;
    previousConfig = pulumi.runtime.allConfig();
  });

  after(async () => {
    rmSync(keys, { recursive: true, force: true });
    if (previous?.mocks) {
      await pulumi.runtime.setMocks(previous.mocks, previous.project, previous.stack, previous.dryRun);
    }
    pulumi.runtime.setAllConfig(previousConfig);
  });

  function secretsFor(example: string, stack: string): Record<string, string> {
    const names = SECRETS[example]?.[stack];
    assert.ok(names, `SECRETS lists what examples/${example}/README.md says to set for the ${stack} stack`);
    const values: Record<string, string> = { sshPrivateKey: privateKey, tls: JSON.stringify(tls) };
    return Object.fromEntries(names.map((name) => [name, values[name]]));
  }

  const one = (run: ProgramRun, type: string): Registered => {
    const found = run.registered.filter((r) => r.type === type);
    assert.equal(found.length, 1, `one ${type}: ${run.registered.map((r) => `${r.type} ${r.name}`).join(", ")}`);
    return found[0];
  };

  /** What every example must register, whatever the stack. */
  function checkRun(run: ProgramRun, expectedFormat: string, expectedConfigFile: RegExp, tlsGiven: boolean): void {
    const quota = one(run, QUOTA_TYPE);
    const compaction = one(run, COMPACTION_TYPE);
    assert.equal(quota.name, "quota");
    assert.equal(compaction.name, "space");

    // The declared quota is the stack's, and the provider would accept every input as it reaches it.
    assert.equal(quota.inputs.quota, run.config[`${run.project}:quota`]);
    const { __provider: provider, ...quotaInputs } = reveal(quota.inputs) as Record<string, unknown>;
    assert.match(String(provider), /require\("pulumi-etcd-quota\/provider"\)/, "the serialized shim");
    const settings = quotaSettings(quotaInputs);
    assert.equal(settings.quotaBytes, parseSize(run.config[`${run.project}:quota`], "quota"));
    for (const member of settings.members) {
      assert.equal(member.format, expectedFormat);
      assert.match(member.configFile, expectedConfigFile);
      assert.equal(member.connection?.privateKey, privateKey, "the key from the secret config");
      assert.match(member.connection?.hostKey ?? "", /^ssh-ed25519 AAAA/);
    }

    // The private key is registered only inside a secret: the whole members list (sdk/quota.ts secretIfCredentials).
    assert.ok(isSecret(quota.inputs.members), "members is a secret input");
    const keyLine = privateKey.trim().split("\n")[1];
    for (const entry of run.registered) {
      assert.deepEqual(plaintextPaths(entry.inputs, keyLine), [], `${entry.name}: no plaintext private key`);
    }
    // The outputs that repeat secrets are marked for the engine (test/etcd/quota-ssh.test.ts relies on this list).
    const secretOutputs = quota.opts?.additionalSecretOutputs ?? [];
    for (const key of ["tls", "password", "memberSpecs"]) assert.ok(secretOutputs.includes(key), key);

    // Maintenance runs against the same members, after the quota.
    const compactionInputs = reveal(compaction.inputs) as Record<string, unknown>;
    const { endpoints } = compactionSettings(compactionInputs).access;
    assert.deepEqual(
      endpoints,
      settings.members.map((m) => m.endpoint),
    );
    assert.equal((compaction.opts?.dependsOn as unknown[] | undefined)?.length, 1, "dependsOn the quota");
    if (tlsGiven) {
      assert.ok(isSecret(quota.inputs.tls) && isSecret(compaction.inputs.tls), "tls is registered as a secret");
      assert.deepEqual(compactionInputs.tls, tls);
      assert.ok(endpoints.every((e) => e.startsWith("https://")));
    } else {
      assert.equal(quota.inputs.tls, undefined);
    }

    // Stack outputs as `pulumi stack output` would show them.
    assert.equal(run.outputs.quotaBytes, settings.quotaBytes);
    assert.deepEqual(run.outputs.endpoints, endpoints);
    const memberQuotas = run.outputs.memberQuotas as { liveBytes: number }[];
    assert.equal(memberQuotas.length, settings.members.length);
    assert.ok(memberQuotas.every((m) => m.liveBytes === settings.quotaBytes));
    assert.equal(run.outputs.maintenance, "up-to-date");
  }

  describe("per-environment", function () {
    const dir = join(EXAMPLES, "per-environment");

    it("has a dev and a prod stack", function () {
      assert.deepEqual(stacksOf(dir), ["dev", "prod"]);
    });

    it("declares different quotas and members per stack, over SSH with the key as a secret", async function () {
      const runs = new Map<string, ProgramRun>();
      for (const stack of stacksOf(dir)) {
        const secrets = secretsFor("per-environment", stack);
        const run = await runProgram(dir, stack, secrets);
        checkRun(run, "systemd-unit", /^\/etc\/systemd\/system\/etcd\.service$/, "tls" in secrets);
        assert.equal(run.outputs.stack, stack);
        runs.set(stack, run);
      }
      const dev = runs.get("dev")!;
      const prod = runs.get("prod")!;
      const quotaOf = (run: ProgramRun) => one(run, QUOTA_TYPE).inputs.quota;
      assert.equal(quotaOf(dev), "2GiB");
      assert.equal(quotaOf(prod), "8GiB");
      assert.equal(dev.outputs.quotaBytes, 2 * 1024 ** 3);
      assert.equal(prod.outputs.quotaBytes, 8 * 1024 ** 3);
      assert.equal((dev.outputs.endpoints as string[]).length, 1);
      assert.equal((prod.outputs.endpoints as string[]).length, 3);

      // dev logs in as root (the Pulumi.yaml default), prod as a sudoer; each stack's own settings reach the resources.
      const member = (run: ProgramRun) =>
        (reveal(one(run, QUOTA_TYPE).inputs.members) as { connection: { user: string } }[])[0];
      assert.equal(member(dev).connection.user, "root");
      assert.equal(member(prod).connection.user, "etcd-admin");
      assert.equal(one(dev, QUOTA_TYPE).inputs.restartTimeout, "3m");
      assert.equal(one(prod, QUOTA_TYPE).inputs.restartTimeout, "5m");
      assert.equal(one(prod, COMPACTION_TYPE).inputs.retainRevisions, 10000);
      assert.deepEqual(one(dev, COMPACTION_TYPE).inputs.when, { noSpaceAlarm: true, quotaUsageAbove: 0.7 });
    });
  });
});
