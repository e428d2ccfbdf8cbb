import * as assert from "node:assert/strict";
import { InvalidInputError } from "../../provider/errors";
import { maskUrlCredentials, refuseCleartextCredentials } from "../../provider/inputs/access";
import { compactionSettings } from "../../provider/inputs/compaction";
import { quotaSettings } from "../../provider/inputs/quota";
import { compaction } from "../../provider/resources/compaction";
import { quota } from "../../provider/resources/quota";

/** A PEM private key's shape: what a `tls` given as one string holds. Not a real key. */
const KEY_TEXT = [
  "-----BEGIN PRIVATE KEY-----",
  "MC4CAQAwBQYDK2VwBCIEIKeyTextThatMustNeverBeInAnyMessage0123456789ab",
  "-----END PRIVATE KEY-----",
].join("\n");
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

/** The refusal `settings` of `raw` throws: an InvalidInputError, whose message is returned. */
function refusal(settings: () => unknown): string {
  try {
    settings();
  } catch (error) {
    assert.ok(error instanceof InvalidInputError, String(error));
    return error.message;
  }
  assert.fail("accepted");
}

function member(connection: Record<string, unknown>): Record<string, unknown> {
  return {
    endpoint: "http://127.0.0.1:2379",
    configFile: "/etc/etcd/etcd.conf.yml",
    connection: { host: "10.0.0.1", hostKey: HOST_KEY, ...connection },
  };
}

describe("no secret value in any message", () => {
  it("describes a secret given in the wrong shape by its shape, never its text or number", () => {
    const endpoints = ["https://127.0.0.1:2379"];
    const cases: [() => unknown, string, RegExp][] = [
      [
        () => compactionSettings({ endpoints, tls: KEY_TEXT }),
        "MC4CAQAw",
        new RegExp(
          `^tls: expected \\{ ca, cert, key \\} with PEM contents, got a string of ${KEY_TEXT.length} characters`,
        ),
      ],
      [() => compactionSettings({ endpoints, tls: { cert: 987654321, key: 987654321 } }), "987654321", /a number/],
      [
        () => compactionSettings({ endpoints, username: "root", password: 8675309 }),
        "8675309",
        /^password: expected a string, got a number$/,
      ],
      [
        () => quotaSettings({ quota: "1GiB", members: [member({ password: 24681357 })] }),
        "24681357",
        /^members\[0\]\.connection\.password: must be a non-empty string, got a number$/,
      ],
      [
        () => quotaSettings({ quota: "1GiB", members: [member({ privateKey: 13572468 })] }),
        "13572468",
        /^members\[0\]\.connection\.privateKey: .*got a number$/,
      ],
      [
        () =>
          quotaSettings({ quota: "1GiB", members: [member({ privateKey: KEY_TEXT, privateKeyPassword: 11223344 })] }),
        "11223344",
        /^members\[0\]\.connection\.privateKeyPassword: .*got a number$/,
      ],
      [
        () =>
          quotaSettings({
            quota: "1GiB",
            members: [member({ password: "x", proxy: { host: "10.0.0.9", hostKey: HOST_KEY, password: 55667788 } })],
          }),
        "55667788",
        /^members\[0\]\.connection\.proxy\.password: .*got a number$/,
      ],
      [
        () => quotaSettings({ quota: "1GiB", members: [{ ...member({}), connection: KEY_TEXT }] }),
        "MC4CAQAw",
        /^members\[0\]\.connection: expected an object .*got a string of \d+ characters$/,
      ],
    ];
    for (const [settings, secret, expected] of cases) {
      const message = refusal(settings);
      assert.match(message, expected);
      assert.ok(!message.includes(secret), `${secret} is in: ${message}`);
    }
  });

  it("refuses credentials in an endpoint URL, naming the input, with the password masked", () => {
    const cases: [() => unknown, RegExp][] = [
      [
        () => compactionSettings({ endpoints: ["https://root:hunter2-secret@127.0.0.1:2379"] }),
        /^endpoints\[0\]: "https:\/\/root:\*\*\*@127\.0\.0\.1:2379" carries credentials/,
      ],
      [
        () =>
          quotaSettings({
            quota: "1GiB",
            members: [{ ...member({ password: "x" }), endpoint: "http://root:hunter2-secret@127.0.0.1:2379" }],
          }),
        /^members\[0\]\.endpoint: "http:\/\/root:\*\*\*@127\.0\.0\.1:2379" carries credentials/,
      ],
      // Not a URL at all, and a list given as one string: still masked.
      [
        () => compactionSettings({ endpoints: ["https://root:hunter2-secret@127.0.0.1:23 79"] }),
        /^endpoints\[0\]: "https:\/\/root:\*\*\*@127\.0\.0\.1:23 79" is not a URL/,
      ],
      [
        () => compactionSettings({ endpoints: "https://root:hunter2-secret@127.0.0.1:2379" }),
        /^endpoints: expected a non-empty list of client URLs, got "https:\/\/root:\*\*\*@127\.0\.0\.1:2379"$/,
      ],
    ];
    for (const [settings, expected] of cases) {
      const message = refusal(settings);
      assert.match(message, expected);
      assert.ok(!message.includes("hunter2"), message);
    }
    assert.equal(maskUrlCredentials("root:pw@10.0.0.1:2379"), "root:***@10.0.0.1:2379");
    assert.equal(maskUrlCredentials("https://token@10.0.0.1:2379"), "https://***@10.0.0.1:2379");
    assert.equal(maskUrlCredentials("https://u:pa/ss@10.0.0.1:2379"), "https://u:***@10.0.0.1:2379");
    assert.equal(maskUrlCredentials("https://10.0.0.1:2379"), "https://10.0.0.1:2379");
  });
});

describe("credentials over http:// (the providers' check)", () => {
  /** The reasons `check` fails with; the refusals come before any member is asked. */
  async function reasons(provider: "compaction" | "quota", news: Record<string, unknown>): Promise<string[]> {
    const checked = provider === "compaction" ? await compaction.check({}, news) : await quota.check({}, news);
    return (checked.failures ?? []).map((failure) => failure.reason);
  }

  it("are refused unless allowInsecureCredentials says so, naming the endpoint", async () => {
    const endpoints = ["https://10.0.0.1:2379", "http://10.0.0.2:2379"];
    const [reason] = await reasons("compaction", { endpoints, username: "root", password: "pw" });
    assert.match(
      reason,
      /^endpoints\[1\]: "http:\/\/10\.0\.0\.2:2379" would carry username and password, .* in cleartext; .*allowInsecureCredentials: true/,
    );
    const access = (raw: Record<string, unknown>) => compactionSettings(raw).access;
    const fieldOf = (i: number) => `endpoints[${i}]`;
    assert.doesNotThrow(() =>
      refuseCleartextCredentials(
        access({ endpoints, username: "root", password: "pw", allowInsecureCredentials: true }),
        fieldOf,
      ),
    );
    assert.doesNotThrow(() => refuseCleartextCredentials(access({ endpoints }), fieldOf), "no credentials");
    assert.doesNotThrow(() =>
      refuseCleartextCredentials(access({ endpoints: [endpoints[0]], username: "root", password: "pw" }), fieldOf),
    );
    assert.match(
      (await reasons("compaction", { endpoints, allowInsecureCredentials: "yes" }))[0],
      /^allowInsecureCredentials: expected true or false/,
    );
  });

  it("are refused by EtcdQuota's check too, naming the member", async () => {
    const news = { quota: "1GiB", members: [member({ password: "x" })], username: "root", password: "pw" };
    assert.match(
      (await reasons("quota", news))[0],
      /^members\[0\]\.endpoint: "http:\/\/127\.0\.0\.1:2379" would carry username and password/,
    );
  });
});
