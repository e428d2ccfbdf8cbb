import * as os from "os";
import { Etcd3, IOptions } from "etcd3";
import { EtcdQuotaError, TimeoutError } from "../errors";
import { formatDuration } from "../duration";
import { Progress, sleep } from "../wait";
import { EtcdAccess } from "./access";
import { describeEtcdError, grpcCredentials } from "./member";

/** How long a run waits for another run's lock unless told otherwise (`lockTimeout`). */
export const DEFAULT_LOCK_WAIT_MS = 120_000;

/** The key two runs agree on; its value names the holder. */
export const LOCK_KEY = "/pulumi-etcd-quota/lock";

export interface LockOptions {
  /** Who is asking, for the other run's message: e.g. "EtcdQuota". */
  readonly holder: string;
  /** How long to wait for a lock someone else holds. */
  readonly waitMs: number;
  /** Lease TTL: how long a lock outlives a run that died without releasing it. */
  readonly ttlSeconds?: number;
}

/** A held lock; `release` is safe to call more than once. */
export interface ClusterLock {
  release(): Promise<void>;
}

const DEFAULT_TTL_SECONDS = 15;
const NO_SPACE = /database space exceeded/;

/**
 * Takes the cluster-wide lock so two `pulumi up` runs (or two stacks) never maintain or restart the same cluster at
 * once. The key is bound to a lease that this process keeps alive, so a run that dies leaves no stuck lock: the
 * lease expires within `ttlSeconds`. The client spans every endpoint, so the keep-alive survives the restart of any
 * one member during a rolling change.
 *
 * Under NOSPACE etcd refuses leases and puts, so no lock can be written: the run goes on without one and says so.
 */
export async function acquireClusterLock(
  access: EtcdAccess,
  options: LockOptions,
  progress: Progress,
): Promise<ClusterLock> {
  const clientOptions: IOptions = { hosts: [...access.endpoints], dialTimeout: 10_000 };
  if (access.tls) clientOptions.credentials = grpcCredentials(access.tls);
  if (access.username !== undefined && access.password !== undefined) {
    clientOptions.auth = { username: access.username, password: access.password };
  }
  const client = new Etcd3(clientOptions);
  const me = `${options.holder} on ${os.hostname()} (pid ${process.pid}) since ${new Date().toISOString()}`;
  const deadline = Date.now() + options.waitMs;
  const lease = client.lease(options.ttlSeconds ?? DEFAULT_TTL_SECONDS, { autoKeepAlive: true });
  try {
    await lease.grant();
    let announced = false;
    for (;;) {
      const result = await client
        .if(LOCK_KEY, "Create", "==", 0)
        .then(lease.put(LOCK_KEY).value(me))
        .else(client.get(LOCK_KEY))
        .commit();
      if (result.succeeded) break;
      const holder = result.responses[0]?.response_range?.kvs[0]?.value.toString() ?? "another run";
      if (Date.now() >= deadline) {
        throw new TimeoutError(
          `the cluster is locked by ${holder}; gave up after ${formatDuration(options.waitMs)}. If that run died, its lock expires by itself within ${options.ttlSeconds ?? DEFAULT_TTL_SECONDS}s`,
        );
      }
      if (!announced) progress(`waiting for the cluster lock, held by ${holder}`);
      announced = true;
      await sleep(1000);
    }
  } catch (error) {
    await lease.revoke().catch(() => undefined);
    client.close();
    if (error instanceof EtcdQuotaError) throw error;
    if (NO_SPACE.test(String(error))) {
      progress("warning: NOSPACE refuses the lease the cluster lock needs; going on without the lock");
      return { release: async () => undefined };
    }
    const context = {
      username: access.username,
      clientCert: access.tls?.cert !== undefined,
      ca: access.tls?.ca !== undefined,
    };
    throw new EtcdQuotaError(`could not take the cluster lock ${LOCK_KEY}: ${describeEtcdError(error, context)}`);
  }
  let released = false;
  lease.on("lost", () => {
    if (!released) progress("warning: the cluster lock's lease was lost; another run may now start");
  });
  return {
    async release() {
      if (released) return;
      released = true;
      await lease.revoke().catch(() => undefined);
      client.close();
    },
  };
}
