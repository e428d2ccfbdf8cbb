/**
 * plugin/schema.json made from the TSDoc and types of the SDK classes (sdk/) and the records their outputs are
 * (provider/): one description per input and output, written once, in the TypeScript source. `npm run
 * plugin:schema` writes the file; test/plugin/schema.test.ts fails while the committed file differs from what this
 * makes. Build-time only: the plugin serves the committed file and never loads TypeScript.
 */
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

/** The package name, as the plugin (`pulumi-resource-etcdquota`) and its tokens carry it. */
export const PACKAGE = "etcdquota";

const ROOT = path.resolve(__dirname, "..");
/** Where the interfaces the schema describes are declared. */
const SOURCES = [
  "sdk/compaction.ts",
  "sdk/quota.ts",
  "sdk/snapshot.ts",
  "provider/types/compaction.ts",
  "provider/types/quota.ts",
  "provider/resources/compaction.ts",
  "provider/plan/forecast.ts",
  "provider/types/snapshot.ts",
];
/** The SDK classes that become resources, and their args interfaces. */
const RESOURCES = [
  { className: "EtcdQuota", args: "EtcdQuotaArgs" },
  { className: "EtcdCompaction", args: "EtcdCompactionArgs" },
] as const;
/** Inputs stored encrypted whatever the program gives (the SDK's `withSecretCredentials`). */
const SECRET_INPUTS = ["tls", "password"];

type Spec = Record<string, unknown>;

interface Declarations {
  readonly interfaces: Map<string, ts.InterfaceDeclaration>;
  readonly aliases: Map<string, ts.TypeAliasDeclaration>;
  readonly classes: Map<string, ts.ClassDeclaration>;
}

function declarations(): Declarations {
  const found: Declarations = { interfaces: new Map(), aliases: new Map(), classes: new Map() };
  for (const file of SOURCES) {
    const source = ts.createSourceFile(
      file,
      fs.readFileSync(path.join(ROOT, file), "utf8"),
      ts.ScriptTarget.ES2022,
      true,
    );
    for (const statement of source.statements) {
      if (ts.isInterfaceDeclaration(statement)) found.interfaces.set(statement.name.text, statement);
      else if (ts.isTypeAliasDeclaration(statement)) found.aliases.set(statement.name.text, statement);
      else if (ts.isClassDeclaration(statement) && statement.name) found.classes.set(statement.name.text, statement);
    }
  }
  return found;
}

/**
 * A node's TSDoc as one line, and its `@default` apart (the schema says it as `default` when it is a literal). Read
 * from the comment's text, not TypeScript's tag parser: that takes `@pulumi/command` in a sentence for a tag.
 */
function docOf(node: ts.Node): { description?: string; default?: string } {
  const docs = (node as { jsDoc?: ts.JSDoc[] }).jsDoc ?? [];
  const last = docs[docs.length - 1];
  if (last === undefined) return {};
  const lines = last
    .getText()
    .replace(/^\/\*\*|\*\/$/g, "")
    .split("\n")
    .map((line) => line.replace(/^\s*\*\s?/, "").trim());
  const tag = lines.findIndex((line) => /^@(default|param|returns)\b/.test(line));
  const body = (tag === -1 ? lines : lines.slice(0, tag)).join(" ").replace(/\s+/g, " ").trim();
  const fallback = lines
    .find((line) => line.startsWith("@default "))
    ?.slice("@default ".length)
    .trim();
  return { description: body || undefined, default: fallback };
}

/** A schema default from `@default` text, when it is a literal; "none" and prose stay in the description. */
function defaultValue(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text);
    return typeof value === "object" ? undefined : value;
  } catch {
    return undefined;
  }
}

class SchemaBuilder {
  readonly types: Record<string, Spec> = {};

  constructor(private readonly found: Declarations) {}

  /** The property spec of a TypeScript type node: `pulumi.Input<T>` and `Output<T>` are T. */
  typeOf(node: ts.TypeNode): Spec {
    if (ts.isParenthesizedTypeNode(node)) return this.typeOf(node.type);
    if (ts.isTypeOperatorNode(node)) return this.typeOf(node.type);
    if (ts.isArrayTypeNode(node)) return { type: "array", items: this.typeOf(node.elementType) };
    switch (node.kind) {
      case ts.SyntaxKind.StringKeyword:
        return { type: "string" };
      case ts.SyntaxKind.NumberKeyword:
        return { type: "number" };
      case ts.SyntaxKind.BooleanKeyword:
        return { type: "boolean" };
      case ts.SyntaxKind.UnknownKeyword:
        return { $ref: "pulumi.json#/Any" };
    }
    if (ts.isLiteralTypeNode(node)) {
      if (ts.isStringLiteral(node.literal)) return { type: "string" };
      if (node.literal.kind === ts.SyntaxKind.FalseKeyword || node.literal.kind === ts.SyntaxKind.TrueKeyword) {
        return { type: "boolean" };
      }
    }
    if (ts.isUnionTypeNode(node)) {
      const members = node.types.filter(
        (t) => !(ts.isLiteralTypeNode(t) && t.literal.kind === ts.SyntaxKind.NullKeyword),
      );
      const specs: Spec[] = [];
      for (const member of members) {
        const spec = this.typeOf(member);
        if (!specs.some((s) => JSON.stringify(s) === JSON.stringify(spec))) specs.push(spec);
      }
      return specs.length === 1 ? specs[0] : { oneOf: specs };
    }
    if (ts.isTypeReferenceNode(node)) {
      const name = node.typeName.getText(node.getSourceFile());
      const args = node.typeArguments ?? ts.factory.createNodeArray<ts.TypeNode>();
      if (/^(pulumi\.)?(Input|Output)$/.test(name)) return this.typeOf(args[0]);
      if (name === "Omit") return this.objectRef(this.omitted(args[0], args[1]), args[0], args[1]);
      const alias = this.found.aliases.get(name);
      if (alias) return this.typeOf(alias.type);
      if (this.found.interfaces.has(name)) return this.objectRef(name);
      // The provider's names for types the SDK re-exports (`LiveMember as ProviderLiveMember`).
      const renamed = name.replace(/^Provider/, "");
      if (this.found.interfaces.has(renamed)) return this.objectRef(renamed);
      if (name === "ConfigFormat") return { type: "string" };
    }
    throw new Error(`schema: no schema type for \`${node.getText(node.getSourceFile())}\``);
  }

  /** `Omit<ConnectionArgs, "sudo" | "proxy">` names the interface a type alias stands for. */
  private omitted(base: ts.TypeNode, _keys: ts.TypeNode): string {
    return base.getText(base.getSourceFile());
  }

  private objectRef(name: string, omitFrom?: ts.TypeNode, keys?: ts.TypeNode): Spec {
    const omit = keys
      ? (ts.isUnionTypeNode(keys) ? keys.types : [keys]).map((k) => k.getText(k.getSourceFile()).replace(/"/g, ""))
      : [];
    const typeName = omitFrom ? this.aliasNameFor(omitFrom, omit) : name;
    // The SDK generators add "Args" to every input type's name: QuotaMemberArgs becomes QuotaMember, so Go and
    // Python programs write QuotaMemberArgs, not QuotaMemberArgsArgs.
    const token = `${PACKAGE}:index:${typeName.replace(/Args$/, "")}`;
    if (!(token in this.types)) {
      this.types[token] = {}; // cycles (ConnectionArgs.proxy) end here
      const declaration = this.found.interfaces.get(name)!;
      const { properties, required } = this.properties(declaration.members, omit);
      this.types[token] = {
        type: "object",
        description: docOf(omitFrom ? this.found.aliases.get(typeName)! : declaration).description,
        properties,
        ...(required.length > 0 ? { required } : {}),
      };
    }
    return { $ref: `#/types/${token}` };
  }

  /** The alias declared as `Omit<base, keys>`: its own name, e.g. ProxyConnectionArgs. */
  private aliasNameFor(base: ts.TypeNode, omit: readonly string[]): string {
    for (const [name, alias] of this.found.aliases) {
      const type = alias.type;
      if (ts.isTypeReferenceNode(type) && type.typeArguments?.[0] === base) return name;
    }
    throw new Error(`schema: no alias for Omit<${base.getText(base.getSourceFile())}, ${omit.join(" | ")}>`);
  }

  properties(
    members: ts.NodeArray<ts.TypeElement | ts.ClassElement>,
    omit: readonly string[] = [],
  ): { properties: Record<string, Spec>; required: string[] } {
    const properties: Record<string, Spec> = {};
    const required: string[] = [];
    for (const member of members) {
      if (!(ts.isPropertySignature(member) || ts.isPropertyDeclaration(member)) || !member.type) continue;
      const name = member.name.getText(member.getSourceFile());
      if (omit.includes(name)) continue;
      const doc = docOf(member);
      const fallback = defaultValue(doc.default);
      properties[name] = {
        ...this.typeOf(member.type),
        ...(doc.description ? { description: doc.description } : {}),
        ...(fallback !== undefined ? { default: fallback } : {}),
        // The TSDoc says "Secret." of each credential: the schema marks it so the SDKs encrypt it.
        ...(/\bSecret\./.test(doc.description ?? "") ? { secret: true } : {}),
      };
      if (!member.questionToken) required.push(name);
    }
    return { properties, required };
  }
}

/** The package schema: both resources, their inputs and outputs, each with its TSDoc as description. */
export function buildSchema(version: string): Spec {
  const found = declarations();
  const builder = new SchemaBuilder(found);
  const resources: Record<string, Spec> = {};
  for (const { className, args } of RESOURCES) {
    const declaration = found.classes.get(className)!;
    const inputs = builder.properties(found.interfaces.get(args)!.members);
    for (const key of SECRET_INPUTS) inputs.properties[key] = { ...inputs.properties[key], secret: true };
    const outputs = builder.properties(declaration.members);
    // The state keeps the inputs too (a refresh and a delete see nothing else): they are outputs as well.
    const properties = { ...inputs.properties, ...outputs.properties };
    resources[`${PACKAGE}:index:${className}`] = {
      description: docOf(declaration).description,
      properties,
      required: Object.keys(outputs.properties).filter((key) => !key.startsWith("snapshotTaken")),
      inputProperties: inputs.properties,
      requiredInputs: inputs.required,
    };
  }
  return {
    name: PACKAGE,
    displayName: "etcd quota",
    version,
    description: "The etcd space runbook as resources: compaction, defragmentation, NOSPACE, the space quota",
    keywords: ["pulumi", "etcd", "category/infrastructure", "kind/native"],
    license: "Apache-2.0",
    // supportPack: the generated SDKs (sdks/) carry this version in package.json, setup.py and go.mod, so each
    // asks the engine for the plugin of the same version.
    meta: { moduleFormat: "(.*)", supportPack: true },
    language: {
      nodejs: { packageName: "@etcdquota/pulumi", dependencies: { "@pulumi/pulumi": "^3.216.0" } },
      go: { importBasePath: "github.com/pulumi-etcd-quota/sdk/go/etcdquota", respectSchemaVersion: true },
      python: { packageName: "pulumi_etcdquota" },
    },
    types: Object.fromEntries(Object.entries(builder.types).sort(([a], [b]) => a.localeCompare(b))),
    resources,
  };
}

/** The schema file's text, as committed. */
export function schemaText(version: string): string {
  return `${JSON.stringify(buildSchema(version), null, 2)}\n`;
}

export const SCHEMA_FILE = path.join(ROOT, "plugin", "schema.json");

if (require.main === module) {
  const version: string = require("../package.json").version;
  fs.writeFileSync(SCHEMA_FILE, schemaText(version));
  console.log(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}`);
}
