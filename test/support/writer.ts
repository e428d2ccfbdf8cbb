import { noop } from "cockatiel";
import type { IOptions } from "etcd3";
import { Etcd3 } from "etcd3";
import { setTimeout as sleep } from "timers/promises";

/** Bound on reading every acknowledged write back, and on asking one member for them. */
const READ_BACK_TIMEOUT_MS = 60_000;
const READ_BACK_CALL_TIMEOUT_MS = 15_000;

/** What a {@link Writer} saw. */
export interface WriterReport {
  /** Puts etcd acknowledged. */
  readonly acknowledged: number;
  /** Puts that failed (the member was down, no leader, a timeout). */
  readonly failed: number;
  /** The longest time between two acknowledged puts, in ms: how long the cluster was unavailable to writers. */
  readonly longestGapMs: number;
  /** Acknowledged keys whose value did not read back afterwards. */
  readonly lost: readonly string[];
}

export interface WriterOptions {
  /** Key prefix (default `lab/writer/`). */
  readonly prefix?: string;
  /** Pause between puts (default 20 ms). */
  readonly intervalMs?: number;
  /** Bound on each put (default 2 s). */
  readonly callTimeoutMs?: number;
  /** Stop by itself after this long even if nobody calls stop (default 5 min). */
  readonly maxMs?: number;
  /** More etcd3 options for every client, e.g. the `credentials` of https members (LabCluster's clientOptions). */
  readonly connection?: Omit<IOptions, "hosts">;
  /**
   * One client for the whole run, as an application (or kube-apiserver) holds one, instead of a fresh client per
   * put (default false). It sees what etcd3's own failover and circuit breaker make of a member going away.
   */
  readonly longLivedClient?: boolean;
}

/**
 * A bounded writer that runs against a cluster while something is done to it, counts acknowledged and failed writes
 * and the longest gap without a successful write, and afterwards reads every acknowledged write back. By default it
 * uses one fresh client per put with every endpoint, so it fails over like a well-behaved application and is never
 * held up by etcd3's circuit breaker; `longLivedClient` measures the client applications really hold.
 */
export class Writer {
  private readonly acked = new Map<string, string>();
  private failed = 0;
  private longestGapMs = 0;
  private stopped = false;
  private readonly done: Promise<void>;
  private readonly prefix: string;

  private constructor(
    private readonly endpoints: readonly string[],
    private readonly options: WriterOptions,
  ) {
    this.prefix = options.prefix ?? "lab/writer/";
    this.done = this.loop();
  }

  static start(endpoints: readonly string[], options: WriterOptions = {}): Writer {
    return new Writer(endpoints, options);
  }

  private async loop(): Promise<void> {
    const interval = this.options.intervalMs ?? 20;
    const timeout = this.options.callTimeoutMs ?? 2000;
    const until = Date.now() + (this.options.maxMs ?? 300_000);
    let lastAck = Date.now();
    const connect = () => new Etcd3({ ...this.options.connection, hosts: [...this.endpoints], dialTimeout: timeout });
    const shared = this.options.longLivedClient ? connect() : undefined;
    for (let i = 0; !this.stopped && Date.now() < until; i++) {
      const key = `${this.prefix}${String(i).padStart(7, "0")}`;
      const value = `${i}@${Date.now()}`;
      const client = shared ?? connect();
      try {
        await client
          .put(key)
          .value(value)
          .options({ deadline: Date.now() + timeout })
          .exec();
        this.acked.set(key, value);
        const now = Date.now();
        this.longestGapMs = Math.max(this.longestGapMs, now - lastAck);
        lastAck = now;
      } catch {
        this.failed++;
      } finally {
        if (!shared) client.close();
      }
      await sleep(interval);
    }
    shared?.close();
    this.longestGapMs = Math.max(this.longestGapMs, Date.now() - lastAck);
  }

  /** Stops writing and reads back every acknowledged write. */
  async stop(): Promise<WriterReport> {
    this.stopped = true;
    await this.done;
    const stored = await this.readBack();
    const lost = [...this.acked].filter(([key, value]) => stored[key] !== value).map(([key]) => key);
    return { acknowledged: this.acked.size, failed: this.failed, longestGapMs: this.longestGapMs, lost };
  }

  /**
   * One range read of the prefix (a get per key took minutes after a long run on a loaded machine), from one member at
   * a time: any member's linearizable read sees every acknowledged write, and a member just cut off and reconnected
   * can hold a read past any deadline until it hears from the leader again, which a client over every endpoint (with
   * etcd3's retries sharing one deadline) may keep asking.
   */
  private async readBack(): Promise<Record<string, string>> {
    const deadline = Date.now() + READ_BACK_TIMEOUT_MS;
    const failures: string[] = [];
    while (Date.now() < deadline) {
      for (const endpoint of this.endpoints) {
        const client = new Etcd3({
          ...this.options.connection,
          hosts: [endpoint],
          faultHandling: { host: () => noop, global: noop },
        });
        try {
          return await client
            .getAll()
            .prefix(this.prefix)
            .options({ deadline: Math.min(deadline, Date.now() + READ_BACK_CALL_TIMEOUT_MS) })
            .strings();
        } catch (error) {
          failures.push(`${endpoint}: ${error instanceof Error ? error.message : String(error)}`);
        } finally {
          client.close();
        }
      }
      await sleep(500);
    }
    throw new Error(`no member read the writes back within ${READ_BACK_TIMEOUT_MS} ms:\n${failures.join("\n")}`);
  }
}
