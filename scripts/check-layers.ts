/**
 * Import-boundary check (docs/ARCHITECTURE.md "Layers"): reads the imports of
 * every `src/**\/*.ts` file, tests included, and fails (exit 1, one line per
 * offending import, `file:line: why`) on
 * - a cycle between top-level folders of `src/` (`config → fleet → … → config`),
 * - `@aws-sdk/*` imported outside `src/replica/s3/` (today nothing imports
 *   it: the S3 client is our own, `src/replica/s3/http.ts`),
 * - `mqtt` imported outside `src/fleet/` and `src/protocol/`,
 * - a listed exception that no longer happens (so the list only shrinks).
 * Files directly in `src/` (errors.ts, log.ts) form a folder of their own, ".".
 * No dependencies: a regex over the text that sees `import … from`,
 * `export … from`, `import "…"` and `import("…")` with a literal specifier.
 *
 * @module
 */

import { readdirSync, readFileSync } from "node:fs";
import { join, posix, resolve, sep } from "node:path";

/** One import of one source file. */
export interface ImportEdge {
  /** Path relative to `src/`, with `/`. */
  readonly file: string;
  /** 1-based line of the specifier. */
  readonly line: number;
  readonly specifier: string;
}

/** Which folders (paths under `src/`, without the trailing `/`) may import a package. */
const PACKAGE_RULES = [
  { pkg: /^@aws-sdk\//, name: "@aws-sdk/*", allowed: ["replica/s3"] },
  { pkg: /^mqtt(\/|$)/, name: "mqtt", allowed: ["fleet", "protocol"] },
] as const;

/**
 * Files that break a package rule today (file → rule name), until the move
 * that ends it. Empty since every S3 user goes through
 * `replica/object-store.ts` (docs/ARCHITECTURE.md "Layers").
 */
export const EXCEPTIONS: ReadonlyMap<string, string> = new Map();

const IMPORT_RE =
  /^\s*(?:import|export)\b[^"'`;]*?\bfrom\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/gm;

/** The imports in one file's text. */
export function importsOf(file: string, text: string): ImportEdge[] {
  return [...text.matchAll(IMPORT_RE)].map((m) => {
    const specifier = m[1] ?? m[2] ?? m[3]!;
    const at = m.index + m[0].lastIndexOf(specifier);
    return { file, line: text.slice(0, at).split("\n").length, specifier };
  });
}

/** Top-level folder of a `src/`-relative path ("." for a file directly in `src/`). */
function folderOf(path: string): string {
  const i = path.indexOf("/");
  return i < 0 ? "." : path.slice(0, i);
}

/** Every rule violation among `edges`, one message per offending import. */
export function checkLayers(
  edges: readonly ImportEdge[],
  exceptions: ReadonlyMap<string, string> = EXCEPTIONS,
): string[] {
  const problems: string[] = [];
  const excused = new Set<string>();
  const graph = new Map<string, Map<string, ImportEdge[]>>(); // folder → folder → the imports that make the edge
  for (const e of edges) {
    const from = folderOf(e.file);
    if (e.specifier.startsWith(".")) {
      const target = posix.join(posix.dirname(e.file), e.specifier);
      const to = folderOf(target);
      if (target.startsWith("../") || to === from) continue;
      const out = graph.get(from) ?? graph.set(from, new Map()).get(from)!;
      out.set(to, [...(out.get(to) ?? []), e]);
      continue;
    }
    for (const rule of PACKAGE_RULES) {
      if (
        !rule.pkg.test(e.specifier) ||
        (rule.allowed as readonly string[]).some((dir) => e.file.startsWith(`${dir}/`))
      )
        continue;
      if (exceptions.get(e.file) === rule.name) excused.add(e.file);
      else
        problems.push(
          `src/${e.file}:${e.line}: ${rule.name} imported outside src/{${rule.allowed.join(",")}}/ ("${e.specifier}")`,
        );
    }
  }
  for (const [file, name] of exceptions) {
    if (!excused.has(file))
      problems.push(`src/${file}: listed exception (${name}) is gone: remove it from scripts/check-layers.ts`);
  }
  const reaches = (start: string, goal: string): boolean => {
    const seen = new Set<string>();
    const stack = [start];
    while (stack.length > 0) {
      const f = stack.pop()!;
      if (f === goal) return true;
      if (seen.has(f)) continue;
      seen.add(f);
      stack.push(...(graph.get(f)?.keys() ?? []));
    }
    return false;
  };
  // An edge a → b is in a cycle when b leads back to a; every import making such an edge is listed.
  for (const [from, out] of [...graph].sort(([a], [b]) => a.localeCompare(b))) {
    for (const [to, imports] of [...out].sort(([a], [b]) => a.localeCompare(b))) {
      if (!reaches(to, from)) continue;
      for (const e of imports)
        problems.push(`src/${e.file}:${e.line}: folder cycle ${from} → ${to} → … → ${from} ("${e.specifier}")`);
    }
  }
  return problems;
}

/** The imports of every `.ts` file under `root` (a unit test sits in the layer of its code). */
export function readImports(root: string): ImportEdge[] {
  return readdirSync(root, { recursive: true, encoding: "utf8" })
    .map((f) => f.split(sep).join("/"))
    .filter((f) => f.endsWith(".ts"))
    .sort()
    .flatMap((f) => importsOf(f, readFileSync(join(root, f), "utf8")));
}

if (import.meta.main) {
  const problems = checkLayers(readImports(resolve(import.meta.dir, "../src")));
  for (const p of problems) console.error(p);
  if (problems.length > 0) {
    console.error(`check-layers: ${problems.length} offending import(s) (rules: docs/ARCHITECTURE.md "Layers")`);
    process.exit(1);
  }
  console.log(
    `check-layers: ok (no folder cycle; @aws-sdk/* and mqtt only in their folders, ${EXCEPTIONS.size} listed exceptions)`,
  );
}
