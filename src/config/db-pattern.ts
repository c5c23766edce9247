/**
 * The `pattern:` of a directory entry: a glob on a file name, with the
 * syntax of Go's `filepath.Match` (which stock Litestream uses) so a
 * Litestream config means the same here:
 * - `*` any run of characters, `?` any one character
 * - `[abc]`, `[a-z]` one character of a class, `[!a-z]` or `[^a-z]` one not in it
 * - `\` makes the next character literal
 *
 * A pattern matches the whole name and never contains `/`.
 *
 * @module
 */

/**
 * Compiles `pattern` into a matcher of file names.
 *
 * @example
 * ```ts
 * const match = compileDbPattern("*.sqlite?");
 * match("app.sqlite3"); // true
 * match("app.sqlite"); // false
 * ```
 *
 * @param pattern the glob
 * @returns a function telling whether a file name matches
 * @throws {SyntaxError} for an empty pattern, one with `/`, an unclosed `[`,
 * an empty class or a trailing `\`
 */
export function compileDbPattern(pattern: string): (name: string) => boolean {
  if (pattern === "") throw new SyntaxError("Cannot use an empty pattern");
  if (pattern.includes("/")) {
    throw new SyntaxError(`Cannot use pattern '${pattern}': it matches file names, which never contain '/'`);
  }
  let source = "";
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else if (c === "\\") {
      const next = pattern[i + 1];
      if (next === undefined) throw new SyntaxError(`Cannot use pattern '${pattern}': it ends with an escaping '\\'`);
      source += escapeRegExp(next);
      i++;
    } else if (c === "[") {
      const end = classEnd(pattern, i);
      if (end < 0) throw new SyntaxError(`Cannot use pattern '${pattern}': a '[' is never closed by ']'`);
      source += classSource(pattern, pattern.slice(i + 1, end));
      i = end;
    } else source += escapeRegExp(c);
    i++;
  }
  const re = new RegExp(`^${source}$`);
  return (name) => re.test(name);
}

/** Index of the `]` closing the class opened at `start`, or -1. */
function classEnd(pattern: string, start: number): number {
  let i = start + 1;
  if (pattern[i] === "!" || pattern[i] === "^") i++;
  for (; i < pattern.length; i++) {
    if (pattern[i] === "\\") i++;
    else if (pattern[i] === "]") return i;
  }
  return -1;
}

function classSource(pattern: string, body: string): string {
  const negated = body.startsWith("!") || body.startsWith("^");
  const chars = negated ? body.slice(1) : body;
  if (chars === "") throw new SyntaxError(`Cannot use pattern '${pattern}': a '[]' class holds no character`);
  let out = "";
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === "\\" && i + 1 < chars.length) {
      out += escapeClassChar(chars[++i]!);
    } else if (c === "-" && out !== "" && i + 1 < chars.length) {
      out += "-";
    } else out += escapeClassChar(c);
  }
  return `[${negated ? "^" : ""}${out}]`;
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

function escapeClassChar(c: string): string {
  return c.replace(/[\]\\^-]/g, "\\$&");
}
