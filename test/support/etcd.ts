import * as assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { fill } from "../../lab/fill";
import { AlarmAction, AlarmType, Etcd3 } from "etcd3";

/**
 * Independent views of a cluster for assertions, through etcd3 directly rather than the project's own member
 * clients, so a bug there cannot hide itself.
 */
function connect(endpoints: readonly string[]): Etcd3 {
  return new Etcd3({ hosts: [...endpoints], defaultCallOptions: () => ({ deadline: Date.now() + 10_000 }) });
}

export async function withClient<T>(endpoints: readonly string[], use: (client: Etcd3) => Promise<T>): Promise<T> {
  const client = connect(endpoints);
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

export interface RawStatus {
  readonly endpoint: string;
  readonly memberId: string;
  readonly dbSize: number;
  readonly dbSizeInUse: number;
  readonly isLeader: boolean;
  readonly isLearner: boolean;
  readonly revision: number;
}

export function statusOf(endpoint: string): Promise<RawStatus> {
  return withClient([endpoint], async (client) => {
    const status = await client.maintenance.status();
    return {
      endpoint,
      memberId: status.header.member_id,
      dbSize: Number(status.dbSize),
      dbSizeInUse: Number(status.dbSizeInUse),
      isLeader: status.leader === status.header.member_id,
      isLearner: Boolean(status.isLearner),
      revision: Number(status.header.revision),
    };
  });
}

/**
 * The revision a cluster was last compacted at (1 when never), found as the oldest revision a Range can still read:
 * etcd refuses a Range below it with "required revision has been compacted".
 */
export async function compactRevisionOf(client: Etcd3): Promise<number> {
  const head = Number((await client.kv.range({ key: Buffer.from("/"), limit: 1 })).header.revision);
  const readable = (revision: number) =>
    client.kv.range({ key: Buffer.from("/"), revision, limit: 1 }).then(
      () => true,
      (error: Error) => {
        if (/compacted/.test(error.message)) return false;
        throw error;
      },
    );
  let [low, high] = [1, head];
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (await readable(middle)) high = middle;
    else low = middle + 1;
  }
  return low;
}

/** `alarm list`, as `<TYPE>@<decimal member id>`. */
export function alarmsOf(endpoints: readonly string[]): Promise<string[]> {
  return withClient(endpoints, async (client) => {
    const response = await client.maintenance.alarm({ action: AlarmAction.Get });
    return response.alarms.map((a) => `${String(a.alarm).toUpperCase()}@${a.memberID}`);
  });
}

/** Raises CORRUPT on one member through the Alarm API, as etcd's own corruption check would. */
export function raiseCorrupt(endpoint: string): Promise<void> {
  return withClient([endpoint], async (client) => {
    const memberId = (await client.maintenance.status()).header.member_id;
    await client.maintenance.alarm({ action: AlarmAction.Activate, memberID: memberId, alarm: AlarmType.Corrupt });
  });
}

/** Every endpoint answers Status, one member leads, and no alarm is raised. */
export async function assertHealthy(endpoints: readonly string[]): Promise<void> {
  const statuses = await Promise.all(endpoints.map(statusOf));
  assert.equal(statuses.filter((s) => s.isLeader).length, 1, "exactly one member leads");
  assert.deepEqual(await alarmsOf(endpoints), [], "no alarm is raised");
}

/** Waits until every endpoint answers Status with a leader (a member just restarted by hand). */
export async function waitHealthy(endpoints: readonly string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const statuses = await Promise.all(endpoints.map(statusOf));
      if (statuses.some((s) => s.isLeader)) return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`no healthy cluster within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/**
 * Fills to NOSPACE and waits until the alarm list holds still: each member raises its own alarm when it applies the
 * write that hit the quota, so the list can grow for a moment after the fill stops.
 */
export async function fillToNoSpace(endpoints: readonly string[]): Promise<void> {
  await fill(endpoints, { untilNoSpace: true });
  await waitAlarmsHoldStill(endpoints);
}

/** Waits until the alarm list has held still for 2 s (within 20 s): after a fill that ended at NOSPACE. */
export async function waitAlarmsHoldStill(endpoints: readonly string[]): Promise<void> {
  let last = "";
  let stableSince = Date.now();
  const deadline = Date.now() + 20_000;
  while (Date.now() - stableSince < 2_000) {
    assert.ok(Date.now() < deadline, `the alarm list held still within 20 s (last: ${last})`);
    const now = (await alarmsOf(endpoints)).sort().join(",");
    if (now !== last) [last, stableSince] = [now, Date.now()];
    await sleep(200);
  }
}

/**
 * Compacts the history away physically, then makes a few commits a batch interval apart so that each member's
 * dbSizeInUse shows the pages the compaction freed: files with free pages inside them.
 */
export async function compactHistory(endpoints: readonly string[]): Promise<void> {
  await withClient(endpoints, async (client) => {
    const { header } = await client.put("lab/compact-marker").value("x").exec();
    await client.kv.compact({ revision: header.revision, physical: true });
    for (let i = 0; i < 3; i++) {
      await client.put("lab/compact-marker").value(String(i)).exec();
      await sleep(250);
    }
  });
}

/** A lease as etcd tells it: the TTL it was granted and the seconds left (under TTL + 1), -1 when it is gone. */
export interface RawLease {
  readonly grantedTtlSeconds: number;
  readonly ttlSeconds: number;
}

/** LeaseTimeToLive of lease `id` (decimal), asked of `endpoints`. */
export function leaseOf(endpoints: readonly string[], id: string): Promise<RawLease> {
  return withClient(endpoints, async (client) => {
    const response = await client.leaseClient.leaseTimeToLive({ ID: id });
    return { grantedTtlSeconds: Number(response.grantedTTL), ttlSeconds: Number(response.TTL) };
  });
}

/** LeaseLeases: the IDs (decimal) of every lease the cluster holds, as `endpoint` knows them. */
export function leasesOf(endpoint: string): Promise<string[]> {
  return withClient([endpoint], async (client) => {
    const response = await client.leaseClient.leaseLeases();
    return response.leases.map((lease) => String(lease.ID)).sort();
  });
}

/** One counter of a member's /metrics (the sum over the series whose labels include every `labels` pair), 0 if absent. */
export async function metricOf(endpoint: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`${endpoint}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let sum = 0;
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const series = match[2] ?? "";
    if (Object.entries(labels).every(([key, value]) => series.includes(`${key}="${value}"`))) sum += Number(match[3]);
  }
  return sum;
}

/**
 * Waits until every member's DB size holds still across three looks 250 ms apart (each backend commits within its
 * 100 ms batch interval), and returns the sizes: a fill's last writes are in the files, not on their way.
 */
export async function settledSizes(endpoints: readonly string[], timeoutMs = 30_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  let same = 0;
  for (;;) {
    const sizes = (await Promise.all(endpoints.map(statusOf))).map((s) => s.dbSize);
    same = sizes.join(",") === last ? same + 1 : 0;
    last = sizes.join(",");
    if (same >= 2) return sizes;
    assert.ok(Date.now() < deadline, `the DB sizes held still within ${timeoutMs} ms (last: ${last})`);
    await sleep(250);
  }
}
