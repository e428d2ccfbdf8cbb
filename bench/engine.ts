/** The provider host and engine stacks as the benchmarks use them: registered for cleanup, progress on request. */
import { EngineStack, ProviderHost, serializeProviderClosure } from "../test/support/engine";
import { isProgressLine } from "../test/support/progress";
import { providerShim } from "../sdk/shim";
import { log, onCleanup } from "./support";

const COMPACTION_TYPE = "pulumi-nodejs:dynamic/etcd-quota:EtcdCompaction";
const QUOTA_TYPE = "pulumi-nodejs:dynamic/etcd-quota:EtcdQuota";

export interface BenchHost {
  readonly host: ProviderHost;
  /** Stops the host by pid (idempotent). */
  readonly stop: () => Promise<void>;
  /** The provider's progress lines printed since `from` (an index into host.logs). */
  readonly progressSince: (from: number) => string[];
  /** Echoes the progress lines since `from` to stderr when verbose. */
  readonly echo: (from: number) => void;
}

/**
 * Starts the Pulumi dynamic-provider host, which loads the built provider (dist/) through the package name, the way
 * `pulumi up` would. `callTimeoutMs` bounds each gRPC call (the real engine sets none).
 */
export async function startHost(options: { readonly verbose: boolean; readonly callTimeoutMs?: number }) {
  // The engine side serializes each provider once per stack; the first serialization in a process loads the
  // closure serializer, a one-off cost of this process that would otherwise land in whichever preview comes first.
  await serializeProviderClosure(providerShim("compaction"));
  await serializeProviderClosure(providerShim("quota"));
  const host = await ProviderHost.start({ callTimeoutMs: options.callTimeoutMs ?? 300_000, startTimeoutMs: 60_000 });
  const stop = onCleanup(`provider host (pid ${host.pid})`, async () => {
    try {
      await host.stop();
    } catch {
      // It exited already.
    }
  });
  const progressSince = (from: number) => host.logs.slice(from).filter(isProgressLine);
  const echo = (from: number) => {
    if (options.verbose) for (const line of progressSince(from)) log(`  provider: ${line}`);
  };
  return { host, stop, progressSince, echo } satisfies BenchHost;
}

export function compactionStack(host: ProviderHost): EngineStack {
  return new EngineStack(host, { provider: providerShim("compaction"), type: COMPACTION_TYPE });
}

export function quotaStack(host: ProviderHost): EngineStack {
  return new EngineStack(host, { provider: providerShim("quota"), type: QUOTA_TYPE });
}
