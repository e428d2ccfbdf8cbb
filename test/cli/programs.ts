/** Test programs the real-CLI tests share. */

/** Both resources, as the README's program declares them, from stack config (`quota`, `members`). */
export const BOTH_RESOURCES = `
import * as pulumi from "@pulumi/pulumi";
import { EtcdCompaction, EtcdQuota, QuotaMemberArgs } from "pulumi-etcd-quota";

const config = new pulumi.Config();
const members = config.requireObject<QuotaMemberArgs[]>("members");
const quota = new EtcdQuota("quota", { quota: config.require("quota"), members });
new EtcdCompaction("space", { endpoints: members.map((m) => m.endpoint) }, { dependsOn: [quota] });
`;
