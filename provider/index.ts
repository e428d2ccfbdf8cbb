import { dynamicProvider } from "./dynamic";
import type { CompactionInputs, CompactionOutputs } from "./resources/compaction";
import type { QuotaInputs, QuotaOutputs } from "./resources/quota";
import type * as pulumi from "@pulumi/pulumi";

let compaction: pulumi.dynamic.ResourceProvider<CompactionInputs, CompactionOutputs> | undefined;
let quota: pulumi.dynamic.ResourceProvider<QuotaInputs, QuotaOutputs> | undefined;

/**
 * The implementations behind the SDK's resources; the serialized shim (sdk/shim.ts) loads them by this name. Each is
 * loaded at its first use, not with this module: a stack of EtcdCompaction alone never loads EtcdQuota's config
 * editors (yaml), and the provider host answers its first call sooner.
 */
export const providers = {
  get compaction(): pulumi.dynamic.ResourceProvider<CompactionInputs, CompactionOutputs> {
    return (compaction ??= dynamicProvider(
      (require("./resources/compaction") as typeof import("./resources/compaction")).compaction,
    ));
  },
  get quota(): pulumi.dynamic.ResourceProvider<QuotaInputs, QuotaOutputs> {
    return (quota ??= dynamicProvider((require("./resources/quota") as typeof import("./resources/quota")).quota));
  },
};

export * from "./errors";
export { parseSize, formatSize } from "./values/size";
