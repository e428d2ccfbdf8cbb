import type { ConfigValue } from "../../lab/pulumi-cli";

/** `endpoints` as stack config, one `--path endpoints[i]` entry each, as a user sets a list. */
export function endpointConfig(endpoints: readonly string[], key = "endpoints"): Record<string, ConfigValue> {
  return Object.fromEntries(endpoints.map((endpoint, i) => [`${key}[${i}]`, endpoint]));
}
