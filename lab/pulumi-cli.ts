/**
 * The real Pulumi CLI, run the way a user runs it: a project folder of its own outside the repository, the package
 * installed from its `npm pack` tarball, a `file://` backend, a passphrase, no service and no network. The demo, the
 * CLI tests and the benchmarks drive `pulumi` through this module.
 */
import { execFileSync, spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "./etcd-binary";

/** The @pulumi/pulumi a test program installs: the version the repository itself is built and tested with. */
const PULUMI_SDK_VERSION: string = require("../package.json").devDependencies["@pulumi/pulumi"];
const PASSPHRASE = "pulumi-etcd-quota-tests";
/** Long enough for a rolling quota change of three members with restarts; a test that needs more says so. */
const DEFAULT_TIMEOUT_MS = 5 * 60_000;

let binDir: string | undefined;

/**
 * The folder holding `pulumi`, its Node language host and the dynamic-provider launcher, from lab/install-pulumi.sh
 * (which builds the pinned CLI on first use and prints its progress on stderr).
 */
export function pulumiBinDir(): string {
  if (binDir === undefined) {
    const out = execFileSync("bash", [path.join(REPO_ROOT, "lab", "install-pulumi.sh")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    binDir = out.trim().split("\n").pop()!;
  }
  return binDir;
}

const running = new Set<ChildProcess>();
const scratch = new Set<string>();
process.on("exit", () => {
  for (const child of running) killGroup(child, "SIGKILL");
  for (const dir of scratch) removeDir(dir);
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // Already gone.
  }
}

function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  scratch.add(dir);
  return dir;
}

/**
 * Removes a scratch folder, first ending every process still running from it. The CLI starts each plugin in a
 * process group of its own, so ending the CLI's group leaves a provider host that is still busy (a CLI killed at its
 * bound, a run stuck on a dead network) running from the project's node_modules.
 */
function removeDir(dir: string): void {
  for (const pid of processesRunningFrom(dir)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  scratch.delete(dir);
}

/** Processes whose command line names a path inside `dir`. */
function processesRunningFrom(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(`${dir}/`)) pids.push(Number(entry));
    } catch {
      // Exited meanwhile.
    }
  }
  return pids;
}

let installed: Promise<string> | undefined;

/**
 * A folder whose node_modules holds this package as a user installs it (`npm install` of the `npm pack` tarball of
 * the current build) with the pinned @pulumi/pulumi, TypeScript and Node's types. Made once per process; projects
 * take a hard-linked copy, so each has its own node_modules, as a user's program does, at the cost of one install.
 */
function packageInstall(): Promise<string> {
  installed ??= (async () => {
    const dir = tempDir("etcd-quota-package-");
    const pack = JSON.parse(
      await output("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], { cwd: REPO_ROOT }),
    ) as { filename: string }[];
    const tarball = path.join(dir, pack[0].filename);
    const devDependencies = require("../package.json").devDependencies;
    writeJson(path.join(dir, "package.json"), {
      name: "etcd-quota-package-install",
      private: true,
      dependencies: {
        "@pulumi/pulumi": PULUMI_SDK_VERSION,
        "pulumi-etcd-quota": `file:${tarball}`,
        "@types/node": devDependencies["@types/node"],
        typescript: devDependencies.typescript,
      },
    });
    await output("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"], { cwd: dir });
    return dir;
  })();
  return installed;
}

let pluginBuilt: Promise<string> | undefined;

/**
 * The provider plugin's tarball (pulumi-resource-etcdquota-v<version>-linux-amd64.tar.gz) of the current build, as
 * `npm run plugin:build` makes it; made once per process.
 */
export function pluginTarball(): Promise<string> {
  pluginBuilt ??= (async () => {
    const out = await output("bash", [path.join(REPO_ROOT, "plugin", "pack.sh")], { cwd: REPO_ROOT });
    return out.trim().split("\n").pop()!;
  })();
  return pluginBuilt;
}

/** The package version, which the plugin reports and is installed under. */
export const PACKAGE_VERSION: string = require("../package.json").version;

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

function output(command: string, args: string[], options: { cwd: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0
        ? resolve(stdout)
        : reject(new Error(`${command} ${args.join(" ")} failed (exit code ${code}) in ${options.cwd}:\n${stderr}`)),
    );
  });
}

/** What one `pulumi` command did. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Throw when the command exits non-zero. @default true */
  readonly check?: boolean;
  /** @default 5 minutes */
  readonly timeoutMs?: number;
  /** Called with the CLI's process once it runs, e.g. to interrupt it. */
  readonly onSpawn?: (child: ChildProcess) => void;
  /** Called with each chunk the CLI prints on stdout. */
  readonly onOutput?: (text: string) => void;
  /** Extra environment for the CLI. */
  readonly env?: Readonly<NodeJS.ProcessEnv>;
}

/** A stack config value: plain text, or a value stored encrypted (`pulumi config set --secret`). */
export type ConfigValue = string | { readonly secret: string };

/**
 * A list as stack config, the way a user sets one: `key[i]` per string, `key[i].field` per field of an object
 * (fields left undefined are not set). Give it to {@link PulumiProject.setConfig}, which sets every key with `--path`.
 */
export function listConfig(key: string, items: readonly (string | object)[]): Record<string, string> {
  return Object.fromEntries(
    items.flatMap((item, i) =>
      typeof item === "string"
        ? [[`${key}[${i}]`, item]]
        : Object.entries(item)
            .filter(([, value]) => value !== undefined)
            .map(([field, value]) => [`${key}[${i}].${field}`, String(value)]),
    ),
  );
}

export interface ProjectOptions {
  /** The project name in Pulumi.yaml. */
  readonly name: string;
  /** index.ts of the program. Either this or `copyFrom`. */
  readonly program?: string;
  /** A program folder to copy (e.g. one of examples/); its `file:` dependency on this repository is dropped. */
  readonly copyFrom?: string;
  /** `options: refresh: always` in Pulumi.yaml, as the README advises. @default true */
  readonly refreshAlways?: boolean;
}

/** A Pulumi project folder outside the repository, with its own state backend and CLI home. */
export class PulumiProject {
  private constructor(
    /** The program folder (Pulumi.yaml, index.ts, node_modules). */
    readonly dir: string,
    private readonly root: string,
  ) {}

  static async create(options: ProjectOptions): Promise<PulumiProject> {
    const template = await packageInstall();
    const root = tempDir("etcd-quota-project-");
    const dir = path.join(root, options.name);
    if (options.copyFrom) {
      fs.cpSync(options.copyFrom, dir, {
        recursive: true,
        filter: (source) => !/(^|\/)(node_modules|Pulumi\.[^/]*\.yaml)$/.test(path.relative(options.copyFrom!, source)),
      });
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
      delete manifest.dependencies["pulumi-etcd-quota"];
      writeJson(path.join(dir, "package.json"), manifest);
    } else {
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, "index.ts"), options.program ?? "");
      writeJson(path.join(dir, "package.json"), { name: options.name, private: true, main: "index.ts" });
      writeJson(path.join(dir, "tsconfig.json"), {
        compilerOptions: {
          strict: true,
          target: "ES2022",
          module: "commonjs",
          moduleResolution: "node",
          esModuleInterop: true,
          skipLibCheck: true,
        },
        files: ["index.ts"],
      });
      fs.writeFileSync(
        path.join(dir, "Pulumi.yaml"),
        `name: ${options.name}\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n` +
          (options.refreshAlways === false ? "" : "options:\n  refresh: always\n"),
      );
    }
    // A hard-linked copy: the same files as the one install, at no cost; npm replaces files rather than writing
    // into them, so a project that installs something else of its own leaves the others untouched.
    execFileSync("cp", ["-al", path.join(template, "node_modules"), path.join(dir, "node_modules")]);
    fs.mkdirSync(path.join(root, "state"));
    return new PulumiProject(dir, root);
  }

  /**
   * A Pulumi YAML project (`runtime: yaml`) with `program` as the body of Pulumi.yaml after its name and runtime
   * (`config:`, `resources:`, `outputs:`). It uses the provider plugin, which {@link installPlugin} installs.
   */
  static createYaml(options: { readonly name: string; readonly program: string }): PulumiProject {
    const root = tempDir("etcd-quota-yaml-");
    const dir = path.join(root, options.name);
    fs.mkdirSync(dir);
    fs.mkdirSync(path.join(root, "state"));
    const project = new PulumiProject(dir, root);
    project.writeYaml(options.name, options.program);
    return project;
  }

  /** Rewrites a YAML project's Pulumi.yaml with a new program body. */
  writeYaml(name: string, program: string): void {
    fs.writeFileSync(path.join(this.dir, "Pulumi.yaml"), `name: ${name}\nruntime: yaml\n${program}`);
  }

  /** `pulumi plugin install resource etcdquota <version> --file <tarball>`, as a user installs the plugin. */
  async installPlugin(tarball: string): Promise<void> {
    await this.run(["plugin", "install", "resource", "etcdquota", PACKAGE_VERSION, "--file", tarball]);
  }

  /** The CLI's environment: the pinned CLI first on PATH, a local backend, no update checks, no plugin downloads. */
  env(extra: Readonly<NodeJS.ProcessEnv> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: `${pulumiBinDir()}${path.delimiter}${process.env.PATH}`,
      PULUMI_HOME: path.join(this.root, "home"),
      PULUMI_BACKEND_URL: `file://${path.join(this.root, "state")}`,
      PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_SKIP_CONFIRMATIONS: "true",
      NO_COLOR: "1",
      ...extra,
    };
  }

  /** Runs `pulumi ARGS` in the program folder, non-interactive, without colour. */
  run(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
    const fullArgs = ["--non-interactive", "--color=never", ...args];
    return new Promise((resolve, reject) => {
      const child = spawn("pulumi", fullArgs, {
        cwd: this.dir,
        env: this.env(options.env),
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
      running.add(child);
      let stdout = "";
      let stderr = "";
      child.stdout!.on("data", (d: Buffer) => {
        stdout += d;
        options.onOutput?.(d.toString());
      });
      child.stderr!.on("data", (d) => (stderr += d));
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      child.on("error", (error) => {
        clearTimeout(timer);
        running.delete(child);
        reject(error);
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        running.delete(child);
        // Whatever the CLI left behind (a provider host after a kill) goes with its group.
        killGroup(child, "SIGKILL");
        const result = { code, signal, stdout, stderr };
        if (options.check !== false && code !== 0) {
          reject(new Error(`pulumi ${args.join(" ")} exited with ${code ?? signal}:\n${stdout}\n${stderr}`));
        } else {
          resolve(result);
        }
      });
      options.onSpawn?.(child);
    });
  }

  /** `pulumi stack init NAME` and its config, secrets set with `--secret` as a user sets them. */
  async initStack(stack: string, config: Readonly<Record<string, ConfigValue>> = {}): Promise<void> {
    await this.run(["stack", "init", stack]);
    await this.setConfig(stack, config);
  }

  /** Sets every key in one `pulumi config set-all --path` (one CLI start, not one per key). */
  async setConfig(stack: string, config: Readonly<Record<string, ConfigValue>>): Promise<void> {
    const entries = Object.entries(config);
    if (entries.length === 0) return;
    // `--secret key=value`: a PEM block or a value starting with a dash stays one value, never a flag.
    const pairs = entries.flatMap(([key, value]) =>
      typeof value === "string" ? ["--plaintext", `${key}=${value}`] : ["--secret", `${key}=${value.secret}`],
    );
    await this.run(["config", "set-all", "--stack", stack, "--path", ...pairs]);
  }

  /** `pulumi stack output --json --show-secrets`. */
  async outputs(stack: string): Promise<Record<string, unknown>> {
    const { stdout } = await this.run(["stack", "output", "--stack", stack, "--json", "--show-secrets"]);
    return JSON.parse(stdout);
  }

  /** `pulumi stack export`: the state as the backend stores it (secrets encrypted). */
  async exportState(stack: string): Promise<StackExport> {
    const { stdout } = await this.run(["stack", "export", "--stack", stack]);
    return JSON.parse(stdout);
  }

  /** The stored resource of the given type (`EtcdQuota`, `EtcdCompaction`), or undefined. */
  async resource(stack: string, type: string): Promise<StateResource | undefined> {
    const state = await this.exportState(stack);
    return state.deployment.resources?.find((r) => r.type.endsWith(`:${type}`));
  }

  /** Removes the project folder, its state and its CLI home. */
  remove(): void {
    removeDir(this.root);
  }
}

/** The parts of `pulumi stack export` the tests read. */
export interface StackExport {
  readonly deployment: {
    readonly resources?: StateResource[];
    readonly pending_operations?: { readonly resource: StateResource; readonly type: string }[];
  };
}

export interface StateResource {
  readonly urn: string;
  readonly type: string;
  readonly id?: string;
  readonly inputs?: Record<string, unknown>;
  readonly outputs?: Record<string, unknown>;
  readonly initErrors?: string[];
}
