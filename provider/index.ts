import { dynamicProvider } from "./dynamic";
import { compaction } from "./resources/compaction";
import { quota } from "./resources/quota";

/** The implementations behind the SDK's resources; the serialized shim (sdk/shim.ts) loads them by this name. */
export const providers = { compaction: dynamicProvider(compaction), quota: dynamicProvider(quota) };

export * from "./errors";
export { parseSize, formatSize } from "./size";
