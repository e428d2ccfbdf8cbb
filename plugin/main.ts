/**
 * `pulumi-resource-etcdquota`: the engine starts this (through the launcher of the same name) and connects to the
 * port it prints. The schema served is the committed plugin/schema.json, made from the SDK's TSDoc.
 */
import { engineAddress, logToEngine } from "./engine-log";
import { serve } from "./server";
import schema from "./schema.json";

serve(JSON.stringify(schema), schema.version)
  .then(() => {
    // After the port: that one line is for the engine's eyes, on standard output.
    const address = engineAddress(process.argv.slice(2));
    if (address !== undefined) logToEngine(address);
  })
  .catch((error: unknown) => {
    console.error(`pulumi-resource-etcdquota: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
