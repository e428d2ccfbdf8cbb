import * as pulumi from "@pulumi/pulumi";

/** The dynamic providers this package ships, by the name the shim asks for. */
export type ProviderKind = "compaction" | "quota";

/** Outputs that hold credentials, stored encrypted whatever the inputs were (`additionalSecretOutputs`). */
export const SECRET_OUTPUTS: Readonly<Record<ProviderKind, string[]>> = {
  compaction: ["tls", "password"],
  quota: ["tls", "password", "memberSpecs"],
};

/**
 * The provider object the Pulumi host deserializes for every request. It holds no code of ours: each method loads
 * the installed package's provider and delegates to it. So the state keeps a few hundred bytes instead of the whole
 * provider, a `pulumi refresh` or `destroy` runs the code installed today rather than the code of the day the
 * resource was created (pulumi/pulumi#16826), no class or client is ever serialized (pulumi/pulumi#13960), and no
 * secret can be captured in a closure (pulumi/pulumi#8265). The host resolves the package from the program's
 * node_modules, so the program must depend on pulumi-etcd-quota under that name.
 */
export function providerShim(kind: ProviderKind): pulumi.dynamic.ResourceProvider {
  const load = (): pulumi.dynamic.ResourceProvider => require("pulumi-etcd-quota/provider").providers[kind];
  return {
    check: (olds, news) => load().check!(olds, news),
    diff: (id, olds, news) => load().diff!(id, olds, news),
    create: (inputs) => load().create(inputs),
    read: (id, props) => load().read!(id, props),
    update: (id, olds, news) => load().update!(id, olds, news),
    delete: (id, props) => load().delete!(id, props),
  };
}

/**
 * TLS material and passwords are made secret even when a program passes them as plain values: the engine keeps
 * secrecy per input, and would otherwise store them in clear in the state.
 */
export function withSecretCredentials<T extends { readonly tls?: unknown; readonly password?: unknown }>(args: T): T {
  return {
    ...args,
    tls: args.tls === undefined ? undefined : pulumi.secret(args.tls),
    password: args.password === undefined ? undefined : pulumi.secret(args.password),
  };
}
