export * from "./compaction";
export * from "./quota";
