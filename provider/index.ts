import { compactionProvider } from "./compaction-provider";

/** The implementations behind the SDK's resources; the serialized shim (sdk/shim.ts) loads them by this name. */
export const providers = { compaction: compactionProvider };

export * from "./errors";
export { parseSize, formatSize } from "./size";
