import type { ConfigValue } from "../../lab/pulumi-cli";

/** `endpoints` as stack config, one `--path endpoints[i]` entry each, as a user sets a list. */
export function endpointConfig(endpoints: readonly string[], key = "endpoints"): Record<string, ConfigValue> {
  return Object.fromEntries(endpoints.map((endpoint, i) => [`${key}[${i}]`, endpoint]));
}

/** EtcdQuota's `members` as stack config (`members[i].endpoint`, ...), for a program that reads them whole. */
export function memberConfig(members: readonly object[], key = "members"): Record<string, ConfigValue> {
  return Object.fromEntries(
    members.flatMap((member, i) =>
      Object.entries(member)
        .filter(([, value]) => value !== undefined)
        .map(([field, value]) => [`${key}[${i}].${field}`, String(value)]),
    ),
  );
}
