/**
 * The plugin's TypeScript SDK (`@etcdquota/pulumi`, generated into sdks/nodejs) as a program gets it: compiled with
 * `tsc` (the generated package ships TypeScript source and a `build` script) and placed in the program's
 * node_modules where `npm install` puts a package. Its one dependency, @pulumi/pulumi, is the program's own.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { REPO_ROOT } from "./etcd-binary";
import type { PulumiProject } from "./pulumi-cli";

const SDK = path.join(REPO_ROOT, "sdks", "nodejs");

let built: Promise<string> | undefined;

/** The compiled package folder (package.json beside index.js), made once per process in a temporary folder. */
function compiledSdk(): Promise<string> {
  built ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-quota-nodejs-sdk-"));
    process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
    await promisify(execFile)(process.execPath, [
      require.resolve("typescript/bin/tsc"),
      "-p",
      path.join(SDK, "tsconfig.json"),
      "--outDir",
      dir,
    ]);
    // utilities.ts reads its version (the plugin version it asks the engine for) from package.json beside it.
    for (const file of ["package.json", "README.md"]) fs.copyFileSync(path.join(SDK, file), path.join(dir, file));
    return dir;
  })();
  return built;
}

/** Puts `@etcdquota/pulumi` into the project's node_modules. */
export async function installNodejsSdk(project: PulumiProject): Promise<void> {
  const { name } = JSON.parse(fs.readFileSync(path.join(SDK, "package.json"), "utf8")) as { name: string };
  fs.cpSync(await compiledSdk(), path.join(project.dir, "node_modules", name), { recursive: true });
}
