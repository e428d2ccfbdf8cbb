export { compactionProvider } from "./compaction-provider";
export * from "./errors";
export { parseSize, formatSize } from "./size";
