/**
 * The implementations behind the SDK's resources; the serialized shim (sdk/shim.ts) loads them by this name. Each is
 * loaded at its first use, not with this module: a stack of EtcdCompaction alone never loads EtcdQuota's config
 * editors (yaml), and the provider host answers its first call sooner.
 */
export const providers = {
  get compaction(): (typeof import("./compaction-provider"))["compactionProvider"] {
    return require("./compaction-provider").compactionProvider;
  },
  get quota(): (typeof import("./quota-provider"))["quotaProvider"] {
    return require("./quota-provider").quotaProvider;
  },
};

export * from "./errors";
export { parseSize, formatSize } from "./size";
