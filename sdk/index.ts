export * from "./compaction";
