import * as assert from "node:assert/strict";
import { createHash } from "crypto";
import * as fs from "fs";
import { gauge } from "../../lab/supervisor";

/** `etcd_server_quota_backend_bytes` of one member, read independently of the provider (NaN when it does not answer). */
export async function liveQuota(clientUrl: string): Promise<number> {
  return (await gauge(clientUrl, "etcd_server_quota_backend_bytes")) ?? NaN;
}

export function sha256(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/**
 * Asserts that `after` is `before` byte for byte but for one line, at the same position, in which the number `from`
 * became `to` (a line-by-line comparison with positions: reordered, duplicated or dropped lines fail it).
 */
export function assertOnlyQuotaChanged(before: string, after: string, from: number, to: number, what: string): void {
  const was = before.split("\n");
  const now = after.split("\n");
  const changed = was.flatMap((line, i) => (line === now[i] ? [] : [i + 1]));
  assert.equal(now.length, was.length, `${what}: as many lines as before\n${after}`);
  assert.equal(changed.length, 1, `${what}: one line changed, not lines ${changed.join(", ")}\n${after}`);
  const at = changed[0] - 1;
  assert.equal(was[at].split(String(from)).length, 2, `${what}: line ${changed[0]} held the old quota once`);
  assert.equal(
    now[at],
    was[at].replace(String(from), String(to)),
    `${what}: line ${changed[0]} changed in its quota only`,
  );
}
