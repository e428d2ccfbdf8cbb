import { InvalidInputError } from "../provider/errors";

/**
 * The state an import starts from, made from its ID: the engine's Read for an import carries nothing else. An
 * EtcdCompaction's import ID is its endpoints, comma-separated (`http://10.0.0.1:2379,http://10.0.0.2:2379`); the
 * refresh that follows reads everything else from the cluster. An ID holds no secret, so a cluster that needs TLS
 * material or a password cannot be imported this way: declare the resource instead (its first run only compacts).
 */
export function importedState(type: string, id: string): Record<string, unknown> {
  if (type !== "etcdquota:index:EtcdCompaction") {
    throw new InvalidInputError(
      "id",
      `${type} cannot be imported (its members' files and hosts are not in an ID); declare it: a first update that finds every member at the declared quota restarts nothing`,
    );
  }
  const endpoints = id.split(",").map((endpoint) => endpoint.trim());
  if (endpoints.some((endpoint) => !/^https?:\/\/[^,\s]+$/.test(endpoint))) {
    throw new InvalidInputError(
      "id",
      `expected the cluster's client URLs, comma-separated (http://10.0.0.1:2379,http://10.0.0.2:2379), got ${JSON.stringify(id)}`,
    );
  }
  return { endpoints };
}
