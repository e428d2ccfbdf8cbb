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

/** Lines of `after` that are not in `before`, and the reverse. */
export function changedLines(before: string, after: string): { removed: string[]; added: string[] } {
  const a = before.split("\n");
  const b = after.split("\n");
  return { removed: a.filter((line) => !b.includes(line)), added: b.filter((line) => !a.includes(line)) };
}
