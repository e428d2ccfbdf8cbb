import * as os from "os";
import { AlarmAction, Etcd3 } from "etcd3";
import { EtcdNoSpaceError, TimeoutError } from "../errors";
import { formatDuration } from "../values/duration";
import type { Progress } from "../run/wait";
import { sleep } from "../run/wait";
import type { EtcdAccess } from "../inputs/access";
import { alarmName, clientOptionsFor, errorContextOf, memberError } from "./member";

/**
 * The lock is this lease ("PEQLOCK"): etcd grants a lease ID only while no lease has it, so whoever is granted it
 * holds the lock, and a run that dies leaves it to expire. A lease is not in the key space, so holding the lock
 * leaves nothing in the database that the defrags it protects copy.
 */
export const LOCK_LEASE_ID = "22594213611782987";

/** The holder's name, bound to the lock's lease so it goes with it; only the waiting runs' messages read it. */
export const LOCK_KEY = "/pulumi-etcd-quota/lock";

export interface LockOptions {
  /** Who is asking, for the other run's message: e.g. "EtcdQuota". */
  readonly holder: string;
  /** How long to wait for a lock someone else holds. */
  readonly waitMs: number;
  /** Lease TTL: how long a lock outlives a run that died without releasing it. */
  readonly ttlSeconds?: number;
  /**
   * The endpoints to take the lock through: the voting members'. A learner's endpoint refuses the lease ("rpc not
   * supported for learner"). Default: every endpoint of `access`.
   */
  readonly endpoints?: readonly string[];
}

/** A held lock; `release` is safe to call more than once. */
export interface ClusterLock {
  /**
   * Deletes the holder's name and keeps the lock. Returns the revision of the delete (undefined when there was no
   * name to delete), so that a compaction to that revision takes the name out of the history too.
   */
  unname(): Promise<number | undefined>;
  release(): Promise<void>;
}

const DEFAULT_TTL_SECONDS = 15;
const LEASE_EXISTS = /lease already exists/;
const CALL_TIMEOUT_MS = 5_000;
/** A keep-alive answers in milliseconds; one that has not within this is retried (on another member, likely). */
const KEEPALIVE_ATTEMPT_MS = 1_000;
const KEEPALIVE_RETRY_MS = 100;
/** Said of a holder whose name is not in etcd: it has just taken the lock, or it is an EtcdCompaction at work. */
const UNNAMED_HOLDER =
  "a run that does not name itself right now (EtcdCompaction takes its name out of etcd while it compacts and defragments, so that its defrags leave nothing of it behind)";

/** How much of a holder's text a message quotes: a name this provider writes is under 100 characters. */
const MAX_HOLDER_CHARS = 120;
/** C0 and C1 controls, DEL, and the invisible and bidi marks that reorder or hide what a terminal shows. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

/**
 * The lock's holder as read from etcd, safe to print: any client that may write the key can put anything there
 * (escape sequences that rewrite a terminal or a CI log, fake lines, megabytes), so control and bidi characters are
 * escaped (`\u001b`) and the text is cut at {@link MAX_HOLDER_CHARS} characters, saying how long it was.
 */
export function printableHolder(text: string): string {
  const characters = [...text];
  const shown = characters
    .slice(0, MAX_HOLDER_CHARS)
    .join("")
    .replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return characters.length > MAX_HOLDER_CHARS ? `${shown}... (${characters.length} characters in all)` : shown;
}

/**
 * Takes the cluster-wide lock so two `pulumi up` runs (or two stacks) never maintain or restart the same cluster at
 * once. The lease is kept alive by this process, so a run that dies leaves no stuck lock: it expires within
 * `ttlSeconds`. The client spans every endpoint, so the keep-alive survives the restart of any one member during a
 * rolling change.
 *
 * Under NOSPACE etcd refuses leases and puts, so no lock can be written: the run goes on without one and says so.
 * It does not even ask: a member over its quota answers a lease request by raising NOSPACE for itself, so asking
 * would add an alarm the plan did not show.
 */
export async function acquireClusterLock(
  access: EtcdAccess,
  options: LockOptions,
  progress: Progress,
): Promise<ClusterLock> {
  const endpoints = options.endpoints?.length ? options.endpoints : access.endpoints;
  const client = new Etcd3({ ...clientOptionsFor(endpoints, access), dialTimeout: 10_000 });
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  const me = `${options.holder} on ${os.hostname()} (pid ${process.pid}) since ${new Date().toISOString()}`;
  const deadline = Date.now() + options.waitMs;
  const callOptions = () => ({ deadline: Date.now() + CALL_TIMEOUT_MS });
  let granted = false;
  try {
    const { alarms } = await client.maintenance.alarm({ action: AlarmAction.Get }, callOptions());
    if (alarms.some((alarm) => alarmName(alarm.alarm) === "NOSPACE")) {
      client.close();
      return withoutLock(progress, "NOSPACE is raised, so etcd would refuse the lease the cluster lock needs");
    }
    let announced = false;
    for (;;) {
      try {
        await client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: LOCK_LEASE_ID }, callOptions());
        granted = true;
        break;
      } catch (error) {
        if (!LEASE_EXISTS.test(String(error))) throw error;
      }
      const named = await client.get(LOCK_KEY).options(callOptions()).string();
      const holder = named === null ? UNNAMED_HOLDER : printableHolder(named);
      if (Date.now() >= deadline) {
        throw new TimeoutError(
          `the cluster is locked by ${holder}; gave up after ${formatDuration(options.waitMs)}. If that run died, its lock expires by itself within ${ttlSeconds}s`,
        );
      }
      if (!announced) progress(`waiting for the cluster lock, held by ${holder}`);
      announced = true;
      await sleep(1000);
    }
    await client.put(LOCK_KEY).value(me).lease(LOCK_LEASE_ID).options(callOptions()).exec();
  } catch (error) {
    if (granted) await client.leaseClient.leaseRevoke({ ID: LOCK_LEASE_ID }, callOptions()).catch(() => undefined);
    client.close();
    const failure = memberError(
      endpoints.join(", "),
      `could not take the cluster lock ${LOCK_KEY}`,
      error,
      errorContextOf(access),
    );
    if (failure instanceof EtcdNoSpaceError) {
      return withoutLock(progress, "NOSPACE refuses the lease the cluster lock needs");
    }
    throw failure;
  }
  const keeper = new LeaseKeeper(client, ttlSeconds, () =>
    progress("warning: the cluster lock's lease was lost; another run may now start"),
  );
  let released = false;
  return {
    async unname() {
      // Only our own name: after a lost lease the key may be the next holder's.
      const result = await client
        .if(LOCK_KEY, "Value", "==", me)
        .then(client.delete().key(LOCK_KEY))
        .options(callOptions())
        .commit();
      return result.succeeded ? Number(result.header.revision) : undefined;
    },
    async release() {
      if (released) return;
      released = true;
      // A lease that lapsed may have been granted to the next run since: revoking it would end that run's lock.
      if (keeper.stop()) {
        await client.leaseClient.leaseRevoke({ ID: LOCK_LEASE_ID }, callOptions()).catch(() => undefined);
      }
      client.close();
    },
  };
}

function withoutLock(progress: Progress, why: string): ClusterLock {
  progress(`warning: ${why}; going on without the lock`);
  return { unname: async () => undefined, release: async () => undefined };
}

/**
 * Renews the lock's lease every third of its TTL. Each attempt opens a fresh keep-alive stream, which etcd3 sends to
 * a member picked at random, and a failed attempt is retried at once: during a rolling change one member is down and
 * the one restarted last may still be refusing, so two attempts in three can fail, and three failed ticks in a row
 * would let the lease lapse. etcd3's own keep-alive cannot be used: it only keeps leases it granted, with an ID etcd
 * chose.
 */
class LeaseKeeper {
  private readonly timer: NodeJS.Timeout;
  private readonly intervalMs: number;
  private renewedAt = Date.now();
  private renewing = false;
  private stopped = false;
  private lost = false;

  constructor(
    private readonly client: Etcd3,
    private readonly ttlSeconds: number,
    private readonly onLost: () => void,
  ) {
    this.intervalMs = (ttlSeconds * 1000) / 3;
    this.timer = setInterval(() => void this.renew(), this.intervalMs);
    // A run that ends without releasing (an error path that forgot) must not be kept alive by the timer.
    this.timer.unref();
  }

  /** Stops renewing; says whether the lease is still ours. */
  stop(): boolean {
    this.stopped = true;
    clearInterval(this.timer);
    return !this.lost && Date.now() - this.renewedAt < this.ttlSeconds * 1000;
  }

  private async renew(): Promise<void> {
    if (this.renewing) return;
    this.renewing = true;
    try {
      const until = Date.now() + this.intervalMs;
      while (!this.stopped && !this.lost) {
        try {
          if ((await this.keepAliveOnce()) > 0) this.renewedAt = Date.now();
          else this.markLost();
          return;
        } catch {
          if (Date.now() - this.renewedAt >= this.ttlSeconds * 1000) this.markLost();
          if (Date.now() >= until) return;
          await sleep(KEEPALIVE_RETRY_MS);
        }
      }
    } finally {
      this.renewing = false;
    }
  }

  /** One keep-alive; resolves with the TTL etcd gives the lease now (0 or less: the lease is gone). */
  private async keepAliveOnce(): Promise<number> {
    const stream = await this.client.leaseClient.leaseKeepAlive();
    try {
      const answer = await new Promise<{ TTL: string }>((resolve, reject) => {
        const timeout = setTimeout(() => reject(new Error("no keep-alive answer")), KEEPALIVE_ATTEMPT_MS);
        stream.on("data", (response: { TTL: string }) => {
          clearTimeout(timeout);
          resolve(response);
        });
        stream.on("error", (error: Error) => {
          clearTimeout(timeout);
          reject(error);
        });
        stream.write({ ID: LOCK_LEASE_ID });
      });
      return Number(answer.TTL);
    } finally {
      stream.end();
    }
  }

  private markLost(): void {
    if (this.lost) return;
    this.lost = true;
    clearInterval(this.timer);
    this.onLost();
  }
}
