import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import { REPO_ROOT } from "../../lab/etcd-binary";

/** The first TypeScript code block under `heading` in a Markdown text. */
function codeBlockUnder(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `the README has a section "${heading}"`);
  const block = /\n```ts\n([\s\S]*?)\n```/.exec(markdown.slice(start));
  assert.ok(block, `"${heading}" holds a TypeScript program`);
  return block[1];
}

/**
 * Type errors of each program, compiled together (one load of the libraries) as files of this repository, with strict
 * settings, `pulumi-etcd-quota` being the SDK's source (a user's program gets the built package's types, made from the
 * same source). Keyed by the programs' names.
 */
function typeErrors(programs: Readonly<Record<string, string>>): Record<string, string[]> {
  const files = new Map(Object.entries(programs).map(([name, text]) => [path.join(REPO_ROOT, `${name}.ts`), text]));
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    skipLibCheck: true,
    types: ["node"],
    baseUrl: REPO_ROOT,
    paths: { "pulumi-etcd-quota": ["sdk/index.ts"] },
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) => {
    const text = files.get(name);
    return text === undefined ? getSourceFile(name, version, ...rest) : ts.createSourceFile(name, text, version);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => files.has(name) || fileExists(name);
  const diagnostics = ts.getPreEmitDiagnostics(ts.createProgram([...files.keys()], options, host));
  const errors: Record<string, string[]> = Object.fromEntries(Object.keys(programs).map((name) => [name, []]));
  for (const d of diagnostics) {
    const name = d.file ? path.relative(REPO_ROOT, d.file.fileName).replace(/\.ts$/, "") : "";
    (errors[name] ?? (errors[""] ??= [])).push(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  }
  return errors;
}

describe("the README's quick start", function () {
  // Type-checking loads @pulumi/pulumi's declarations: seconds, more on a loaded machine.
  this.timeout(180_000);
  let errors: Record<string, string[]>;

  before(() => {
    const readme = codeBlockUnder(
      fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8"),
      "## Quick start: kubeadm",
    );
    assert.match(readme, /new EtcdQuota\(/);
    // A program with a misspelled input, compiled alongside: the check must be able to fail.
    const misspelled = `import { EtcdCompaction } from "pulumi-etcd-quota";\nnew EtcdCompaction("x", { endpoints: [], retainRevison: 0 });\n`;
    errors = typeErrors({ "readme-quickstart": readme, misspelled });
  });

  it("is a TypeScript program that compiles against the SDK: its inputs are the resources' inputs", () => {
    assert.deepEqual(errors["readme-quickstart"], []);
    assert.equal(errors[""], undefined, "no error outside the programs");
  });

  it("a program with a misspelled input does not compile, so the check above can fail", () => {
    assert.equal(errors.misspelled.length, 1, errors.misspelled.join("\n"));
    assert.match(errors.misspelled[0], /retainRevison/);
  });
});
