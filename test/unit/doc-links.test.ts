import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "../../lab/etcd-binary";

/** A relative link in a Markdown file: where it is, and what it points at. */
interface Link {
  readonly file: string;
  readonly line: number;
  readonly target: string;
}

/** The anchor GitHub gives a heading: lower case, punctuation but `-` and `_` dropped, each space a dash. */
function slugOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, "")
    .replace(/ /g, "-");
}

/** Lines outside fenced code blocks, with their line numbers; a link in a code block is text, not a link. */
function proseLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let fenced = false;
  text.split("\n").forEach((line, i) => {
    if (/^\s*```/.test(line)) fenced = !fenced;
    else if (!fenced) out.push({ line: i + 1, text: line });
  });
  return out;
}

/** The anchors of a Markdown file's headings, numbered as GitHub numbers repeated ones (`-1`, `-2`). */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text: line } of proseLines(text)) {
    const heading = /^#{1,6} (.*)$/.exec(line);
    if (!heading) continue;
    const slug = slugOf(heading[1]);
    const count = seen.get(slug);
    seen.set(slug, (count ?? -1) + 1);
    anchors.add(count === undefined ? slug : `${slug}-${count + 1}`);
  }
  return anchors;
}

/** Every relative link (`[text](target)`) of a Markdown file; inline code is left out, URLs with a scheme too. */
function relativeLinks(file: string, text: string): Link[] {
  const links: Link[] = [];
  for (const { line, text: prose } of proseLines(text)) {
    const withoutCode = prose.replace(/``.*?``|`[^`]*`/g, "");
    for (const match of withoutCode.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1];
      if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) links.push({ file, line, target });
    }
  }
  return links;
}

/** Why a link does not resolve, or undefined when it does: its file (or folder) exists, and its anchor in it. */
function brokenReason(link: Link, read: (file: string) => string): string | undefined {
  const [pathPart, anchor] = link.target.split("#", 2);
  const target = pathPart === "" ? link.file : path.resolve(path.dirname(link.file), decodeURIComponent(pathPart));
  if (!fs.existsSync(target)) return `no file ${path.relative(REPO_ROOT, target)}`;
  if (anchor === undefined || !target.endsWith(".md")) return undefined;
  return anchorsOf(read(target)).has(anchor)
    ? undefined
    : `no heading #${anchor} in ${path.relative(REPO_ROOT, target)}`;
}

/** Broken links of the given Markdown files, as `file:line: target: reason`. */
function brokenLinks(files: readonly string[]): string[] {
  const read = (file: string) => fs.readFileSync(file, "utf8");
  return files.flatMap((file) =>
    relativeLinks(file, read(file)).flatMap((link) => {
      const reason = brokenReason(link, read);
      return reason === undefined ? [] : [`${path.relative(REPO_ROOT, file)}:${link.line}: ${link.target}: ${reason}`];
    }),
  );
}

/** README.md, every page under docs/, and the lab's and the benchmarks' READMEs the pages link to. */
function documentationFiles(): string[] {
  const docs = path.join(REPO_ROOT, "docs");
  const pages = fs.existsSync(docs)
    ? fs
        .readdirSync(docs)
        .filter((name) => name.endsWith(".md"))
        .map((name) => path.join(docs, name))
    : [];
  return [
    path.join(REPO_ROOT, "README.md"),
    ...pages,
    ...["bench", "lab"].map((d) => path.join(REPO_ROOT, d, "README.md")),
  ];
}

describe("documentation links", () => {
  it("every relative link in README.md and docs/*.md leads to a file, and to a heading when it names one", () => {
    const files = documentationFiles();
    assert.ok(files.length > 2, "docs/ holds pages");
    assert.deepEqual(brokenLinks(files), []);
  });

  it("every page under docs/ is linked from README.md", () => {
    const readme = path.join(REPO_ROOT, "README.md");
    const linked = new Set(
      relativeLinks(readme, fs.readFileSync(readme, "utf8")).map((link) =>
        path.resolve(REPO_ROOT, link.target.split("#")[0]),
      ),
    );
    const unlinked = documentationFiles()
      .filter((file) => path.dirname(file) === path.join(REPO_ROOT, "docs"))
      .filter((file) => !linked.has(file))
      .map((file) => path.relative(REPO_ROOT, file));
    assert.deepEqual(unlinked, []);
  });

  it("reports a link to a missing file, a missing heading and a heading repeated fewer times than named", () => {
    // The check itself, on files made here: it must be able to fail, or the test above proves nothing.
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), "doc-links-"));
    try {
      const page = path.join(folder, "page.md");
      const other = path.join(folder, "other.md");
      fs.writeFileSync(other, "# Other\n\n## `etcd-quota` reference: flags\n\n## Inputs\n\n## Inputs\n");
      fs.writeFileSync(
        page,
        [
          "# Page",
          "[fine](other.md#etcd-quota-reference-flags) [fine too](other.md#inputs-1) [self](#page)",
          "`[code](missing.md)` and a URL [out](https://example.invalid/x)",
          "```",
          "[in a fence](missing.md)",
          "```",
          "[gone](missing.md) [no heading](other.md#outputs) [one too many](other.md#inputs-2)",
        ].join("\n"),
      );
      const broken = brokenLinks([page]).map((line) => line.replace(/^.*page\.md:/, ""));
      assert.deepEqual(broken, [
        `7: missing.md: no file ${path.relative(REPO_ROOT, path.join(folder, "missing.md"))}`,
        `7: other.md#outputs: no heading #outputs in ${path.relative(REPO_ROOT, other)}`,
        `7: other.md#inputs-2: no heading #inputs-2 in ${path.relative(REPO_ROOT, other)}`,
      ]);
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });
});
