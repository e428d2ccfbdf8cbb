export * from "./compaction";
export * from "./quota";
export * from "./snapshot";
