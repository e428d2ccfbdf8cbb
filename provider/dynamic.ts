import type * as pulumi from "@pulumi/pulumi";
import type { ResourceLifecycle } from "./resources/lifecycle";

/**
 * The dynamic-provider face of a resource's lifecycle: the shape `pulumi.dynamic.Resource` asks for. Diffs are
 * reported as a yes or no (the Node host has no detailed diff; the CLI shows which inputs differ on its own), and
 * nothing is ever replaced.
 */
export function dynamicProvider<Inputs, Outputs>(
  core: ResourceLifecycle<Inputs, Outputs>,
): pulumi.dynamic.ResourceProvider<Inputs, Outputs> {
  return {
    check: async (olds, news) => {
      const { inputs, failures } = await core.check(olds, news);
      return { inputs, failures: [...failures] };
    },
    diff: async (id, olds, news) => {
      const { changes } = await core.diff(id, olds, news);
      return { changes, replaces: [], deleteBeforeReplace: false };
    },
    create: (inputs) => core.create(inputs),
    read: async (id, props) => {
      const result = await core.read(id, props);
      // @pulumi/pulumi types `ReadResult.inputs` as the outputs' type, though the engine takes them as inputs.
      return { id: result.id, props: result.props, inputs: result.inputs as Outputs };
    },
    update: (id, olds, news) => core.update(id, olds, news),
    delete: (id, props) => core.delete(id, props),
  };
}
