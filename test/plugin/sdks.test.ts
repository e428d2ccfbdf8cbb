import * as assert from "node:assert/strict";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { REPO_ROOT } from "../../lab/etcd-binary";

const run = promisify(execFile);
const SDKS = path.join(REPO_ROOT, "sdks");
const LANGUAGES = ["nodejs", "python", "go"];
/** The CLI the project pins, whose sdk/v3 the Go SDK must compile against. */
const PINNED = /^readonly PINNED=(.+)$/m.exec(
  fs.readFileSync(path.join(REPO_ROOT, "lab", "install-pulumi.sh"), "utf8"),
)![1];
/** The Go module the schema names (language.go.importBasePath, one folder up: the SDK's go.mod). */
const GO_MODULE = "github.com/pulumi-etcd-quota/sdk/go";

/** Every file under `dir`, as paths relative to it, sorted. */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** The fenced code blocks of one language in docs/languages.md: the usage a reader copies. */
function usage(language: "python" | "go"): string {
  const text = fs.readFileSync(path.join(REPO_ROOT, "docs", "languages.md"), "utf8");
  const blocks = [...text.matchAll(new RegExp("```" + language + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]);
  assert.equal(blocks.length, 1, `docs/languages.md has one ${language} program`);
  return blocks[0];
}

describe("the generated SDKs (sdks/)", function () {
  // The first run builds the generator over pkg/v3 and compiles sdk/v3: minutes on a loaded machine; later runs
  // take Go's caches.
  this.timeout(1_200_000);
  let scratch: string;

  before(() => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-quota-sdks-"));
  });
  after(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it("are what `npm run sdk:generate` makes from plugin/schema.json today (run it after changing the schema)", async () => {
    const out = path.join(scratch, "generated");
    await run("bash", [path.join(SDKS, "generate.sh"), out], { cwd: REPO_ROOT });
    for (const language of LANGUAGES) {
      const committed = path.join(SDKS, language);
      const made = path.join(out, language);
      assert.deepEqual(filesUnder(committed), filesUnder(made), `sdks/${language}: the same files`);
      for (const file of filesUnder(made)) {
        assert.ok(
          fs.readFileSync(path.join(committed, file)).equals(fs.readFileSync(path.join(made, file))),
          `sdks/${language}/${file} is stale: run npm run sdk:generate`,
        );
      }
    }
    // The packages ask the engine for the plugin of this package's version.
    const { version } = require("../../package.json") as { version: string };
    assert.equal(JSON.parse(fs.readFileSync(path.join(SDKS, "nodejs", "package.json"), "utf8")).version, version);
    for (const file of ["python/pulumi_etcdquota/pulumi-plugin.json", "go/etcdquota/pulumi-plugin.json"]) {
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(SDKS, file), "utf8")), {
        resource: true,
        name: "etcdquota",
        version,
      });
    }
  });

  it("Go: the SDK and the usage in docs/languages.md build and vet against github.com/pulumi/pulumi/sdk/v3", async () => {
    const module = path.join(scratch, "go");
    fs.cpSync(path.join(SDKS, "go"), module, { recursive: true });
    fs.mkdirSync(path.join(module, "usage"));
    fs.writeFileSync(path.join(module, "usage", "main.go"), usage("go"));
    const env = { ...process.env, GOFLAGS: "-mod=mod" };
    await run("go", ["mod", "edit", `-require=github.com/pulumi/pulumi/sdk/v3@v${PINNED}`], { cwd: module, env });
    await run("go", ["mod", "tidy"], { cwd: module, env });
    assert.match(fs.readFileSync(path.join(module, "go.mod"), "utf8"), new RegExp(`^module ${GO_MODULE}$`, "m"));
    // `go build` and `go vet` exit non-zero on any error; execFile turns that into a rejection with the compiler's words.
    await run("go", ["build", "./..."], { cwd: module, env });
    await run("go", ["vet", "./..."], { cwd: module, env });
    const { stdout } = await run("go", ["list", "./..."], { cwd: module, env });
    assert.deepEqual(stdout.trim().split("\n").sort(), [
      `${GO_MODULE}/etcdquota`,
      `${GO_MODULE}/etcdquota/internal`,
      `${GO_MODULE}/usage`,
    ]);
  });

  it("Python: the SDK byte-compiles, and the usage in docs/languages.md compiles and names its classes and keywords", async () => {
    const copy = path.join(scratch, "python");
    fs.cpSync(path.join(SDKS, "python"), copy, { recursive: true });
    fs.writeFileSync(path.join(copy, "usage.py"), usage("python"));
    await run("python3", ["-m", "compileall", "-q", copy]);
    const sources = filesUnder(copy).filter((file) => file.endsWith(".py"));
    const compiled = filesUnder(copy).filter((file) => file.endsWith(".pyc"));
    assert.equal(compiled.length, sources.length, `a .pyc per .py: ${compiled.join(", ")}`);
    // Without `pulumi` to import, read both with Python's own parser: every `etcdquota.X(kw=...)` in the usage is a
    // class of the SDK whose constructor takes those keywords.
    const { stdout } = await run("python3", [
      "-c",
      `
import ast, json, pathlib, sys
root = pathlib.Path(sys.argv[1])
params = {}
for file in (root / "pulumi_etcdquota").glob("*.py"):
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    params.setdefault(node.name, set()).update(a.arg for a in item.args.args + item.args.kwonlyargs)
problems = []
calls = 0
for node in ast.walk(ast.parse((root / "usage.py").read_text())):
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", "") == "etcdquota":
        calls += 1
        name = node.func.attr
        if name not in params:
            problems.append(f"no class {name}")
            continue
        problems += [f"{name} takes no {k.arg}" for k in node.keywords if k.arg not in params[name]]
print(json.dumps({"calls": calls, "problems": problems}))
`,
      copy,
    ]);
    assert.deepEqual(JSON.parse(stdout), { calls: 3, problems: [] });
  });

  it("Node.js: the SDK compiles with tsc against the pinned @pulumi/pulumi", async () => {
    const outDir = path.join(scratch, "nodejs");
    await run(process.execPath, [
      require.resolve("typescript/bin/tsc"),
      "-p",
      path.join(SDKS, "nodejs", "tsconfig.json"),
      "--outDir",
      outDir,
    ]);
    for (const file of ["index.js", "index.d.ts", "etcdQuota.js", "etcdCompaction.js", "types/input.d.ts"]) {
      assert.ok(fs.existsSync(path.join(outDir, file)), file);
    }
  });
});
