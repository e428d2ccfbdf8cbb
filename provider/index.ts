import { compactionProvider } from "./compaction-provider";
import { quotaProvider } from "./quota-provider";

/** The implementations behind the SDK's resources; the serialized shim (sdk/shim.ts) loads them by this name. */
export const providers = { compaction: compactionProvider, quota: quotaProvider };

export * from "./errors";
export { parseSize, formatSize } from "./size";
