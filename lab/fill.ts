import { createHash, randomBytes } from "crypto";
import type { IOptions } from "etcd3";
import { Etcd3 } from "etcd3";
import { setTimeout as sleep } from "timers/promises";

/** How {@link fill} writes. Give either `targetBytes` or `untilNoSpace`. */
export interface FillOptions {
  /** Stop once the largest member database (Status `dbSize`) reaches this many bytes. */
  readonly targetBytes?: number;
  /** Write until etcd answers `mvcc: database space exceeded`, which raises the NOSPACE alarm. */
  readonly untilNoSpace?: boolean;
  /** Size of each value (default 128 KiB; etcd refuses requests over 1.5 MiB). */
  readonly valueBytes?: number;
  /** Prefix of the keys written (default `lab/fill/`). */
  readonly keyPrefix?: string;
  /**
   * Distinct keys, each overwritten in turn (default 64): the live data stays small and most of the database
   * becomes history that a compaction frees, as in the runbook.
   */
  readonly keys?: number;
  /** Puts in flight at once (default 16). */
  readonly concurrency?: number;
  /** Give up after this long (default 120 s). */
  readonly timeoutMs?: number;
  /** More etcd3 options for every client, e.g. the `credentials` of https members (LabCluster's clientOptions). */
  readonly connection?: Omit<IOptions, "hosts">;
}

/** What {@link fill} left behind. */
export interface FillResult {
  /** Puts that etcd acknowledged. */
  readonly keysWritten: number;
  /** Every key written, with the SHA-256 (hex) of the value it holds now; {@link verifyFill} checks them. */
  readonly lastValues: ReadonlyMap<string, string>;
  /** The largest member database size (Status `dbSize`) at the end. */
  readonly bytes: number;
  /** Whether the writes ended at `database space exceeded`. */
  readonly noSpace: boolean;
}

const CALL_TIMEOUT_MS = 10_000;
const SIZE_POLL_MS = 200;
const NO_SPACE = "database space exceeded";

/**
 * Writes random values to a small set of keys, over and over, until the database reaches `targetBytes` or
 * etcd runs out of space. Throws when it hits NOSPACE although only `targetBytes` was asked for.
 */
export async function fill(endpoints: readonly string[], options: FillOptions = {}): Promise<FillResult> {
  const { targetBytes, untilNoSpace = false } = options;
  if ((targetBytes === undefined) === !untilNoSpace) {
    throw new Error("fill needs exactly one of targetBytes and untilNoSpace");
  }
  const valueBytes = options.valueBytes ?? 128 * 1024;
  const keyPrefix = options.keyPrefix ?? "lab/fill/";
  const keyCount = options.keys ?? 64;
  const concurrency = Math.min(options.concurrency ?? 16, keyCount);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;

  // bbolt does not compress, so one random pad rotated by a random offset fills the database as well as fresh
  // random values would, and leaves the CPU to the members.
  const pad = randomBytes(valueBytes).toString("base64");
  const keys = Array.from({ length: keyCount }, (_, i) => `${keyPrefix}${String(i).padStart(4, "0")}`);
  const lastValues = new Map<string, string>();
  // A failed put may still have been applied: etcd applies a put, then answers NOSPACE; a deadline can pass after it.
  const inDoubt = new Map<string, string>();
  let keysWritten = 0;
  let noSpace = false;
  let reached = false;
  let failure: unknown;
  const finished = () => noSpace || reached || failure !== undefined || Date.now() >= deadline;

  const connect = connector(options.connection);
  const client = connect(endpoints);
  try {
    // Each worker owns its own keys, so two puts to one key are never in flight together and "last" is defined.
    const worker = async (own: readonly string[]) => {
      for (let round = 0; !finished(); round++) {
        const key = own[round % own.length];
        const offset = Math.floor(Math.random() * valueBytes);
        const value = `${key}#${round}#${pad.slice(offset)}${pad.slice(0, offset)}`.slice(0, valueBytes);
        const digest = sha256(value);
        try {
          await client.put(key).value(value);
          lastValues.set(key, digest);
          keysWritten++;
        } catch (err) {
          inDoubt.set(key, digest);
          // Other errors can be NOSPACE's echo: etcd3 closes the channel on it, failing the puts in flight with it,
          // sometimes before the NOSPACE itself arrives here. Whether they were is decided once every worker stopped.
          if (!String(err).includes(NO_SPACE)) {
            failure ??= err;
            return;
          }
          noSpace = true;
        }
      }
    };
    const watchSize = async (target: number) => {
      try {
        while (!finished()) {
          if (Math.max(...(await dbSizes(endpoints, connect))) >= target) reached = true;
          else await sleep(SIZE_POLL_MS);
        }
      } catch (err) {
        failure ??= err;
      }
    };
    const workers = Array.from({ length: concurrency }, (_, w) => worker(keys.filter((_, i) => i % concurrency === w)));
    await Promise.all([...workers, targetBytes === undefined ? undefined : watchSize(targetBytes)]);
    if (failure !== undefined && !noSpace) throw failure;
    if (noSpace && !untilNoSpace) {
      throw new Error(`etcd ran out of space (NOSPACE) before the database reached ${targetBytes} bytes`);
    }
    if (!noSpace && !reached) {
      throw new Error(`fill gave up after ${timeoutMs} ms (${keysWritten} puts); the cluster writes too slowly`);
    }
  } finally {
    client.close();
  }
  if (inDoubt.size > 0) await settleInDoubt(connect(endpoints), inDoubt, lastValues);
  return { keysWritten, lastValues, bytes: Math.max(...(await dbSizes(endpoints, connect))), noSpace };
}

/**
 * Reads each key whose last put was answered NOSPACE and records the value it really holds. A fresh client:
 * etcd3 counts NOSPACE as a recoverable error, so the filling client's circuit breakers are open for 5 s.
 */
async function settleInDoubt(
  client: Etcd3,
  inDoubt: ReadonlyMap<string, string>,
  lastValues: Map<string, string>,
): Promise<void> {
  try {
    for (const [key, attempted] of inDoubt) {
      const now = await client.get(key).string();
      const digest = now === null ? undefined : sha256(now);
      if (digest !== attempted && digest !== lastValues.get(key)) {
        throw new Error(`${key} holds neither its last acknowledged value nor the one NOSPACE refused`);
      }
      if (digest !== undefined) lastValues.set(key, digest);
    }
  } finally {
    client.close();
  }
}

/** Reads back every key of a {@link FillResult}; returns the keys that no longer hold their last value. */
export async function verifyFill(
  endpoints: readonly string[],
  lastValues: ReadonlyMap<string, string>,
): Promise<string[]> {
  const client = connector()(endpoints);
  try {
    const wrong: string[] = [];
    // One key per call: the values together exceed gRPC's 4 MiB default message size.
    for (const [key, digest] of lastValues) {
      const value = await client.get(key).string();
      if (value === null || sha256(value) !== digest) wrong.push(key);
    }
    return wrong;
  } finally {
    client.close();
  }
}

/** Status `dbSize` of each endpoint, asked of that member alone. */
async function dbSizes(endpoints: readonly string[], connect: Connect): Promise<number[]> {
  return Promise.all(
    endpoints.map(async (endpoint) => {
      const client = connect([endpoint]);
      try {
        return Number((await client.maintenance.status()).dbSize);
      } finally {
        client.close();
      }
    }),
  );
}

type Connect = (endpoints: readonly string[]) => Etcd3;

function connector(connection: Omit<IOptions, "hosts"> = {}): Connect {
  return (endpoints) =>
    new Etcd3({
      ...connection,
      hosts: [...endpoints],
      defaultCallOptions: () => ({ deadline: Date.now() + CALL_TIMEOUT_MS }),
    });
}

function sha256(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}
