/**
 * Environment-variable expansion for config string values: `$NAME` and
 * `${NAME}` are replaced, `$$` is a literal `$`.
 *
 * It runs on each string scalar after YAML parsing, never on the raw text,
 * so a variable's value cannot inject YAML structure.
 *
 * @module
 */

/** Looks up a variable; `undefined` means unset (an empty string is set). */
export type VariableLookup = (name: string) => string | undefined;

const NAME_START = /[A-Za-z_]/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/**
 * Expands `$NAME`, `${NAME}` and `$$` in `text`.
 *
 * A name is a letter or `_` followed by letters, digits or `_`. Any other
 * use of `$` (a trailing `$`, `$1`, `${}`, `${A:-b}`) is an error rather than
 * being passed through, so a typo never silently becomes part of a value.
 * Error messages never contain `text`, which may be a secret.
 *
 * @example
 * ```ts
 * expandEnv("s3://${BUCKET}/$DEVICE_ID", (n) => ({ BUCKET: "b", DEVICE_ID: "d1" })[n]);
 * // "s3://b/d1"
 * expandEnv("cost: $$5", () => undefined); // "cost: $5"
 * ```
 *
 * @param text the string to expand
 * @param lookup returns a variable's value, or `undefined` when it is unset
 * @returns the expanded string
 * @throws {ReferenceError} when a referenced variable is unset (a `lookup`
 * that throws its own error for an unset variable takes precedence)
 * @throws {SyntaxError} when a `$` is not followed by a name, `{NAME}` or `$`
 */
export function expandEnv(text: string, lookup: VariableLookup): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf("$", i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    const next = text[dollar + 1];
    let name: string;
    if (next === "$") {
      out += "$";
      i = dollar + 2;
      continue;
    } else if (next === "{") {
      const close = text.indexOf("}", dollar + 2);
      const inner = close < 0 ? undefined : text.slice(dollar + 2, close);
      if (inner === undefined || NAME.exec(inner)?.[0] !== inner) {
        throw new SyntaxError(
          `Cannot expand environment variables: the '\${' at offset ${dollar} must be followed by a variable name and '}' (write '$$' for a literal '$')`,
        );
      }
      name = inner;
      i = close + 1;
    } else if (next !== undefined && NAME_START.test(next)) {
      name = NAME.exec(text.slice(dollar + 1))?.[0] ?? next;
      i = dollar + 1 + name.length;
    } else {
      throw new SyntaxError(
        `Cannot expand environment variables: the '$' at offset ${dollar} is not followed by a variable name (write '$$' for a literal '$')`,
      );
    }
    const value = lookup(name);
    if (value === undefined) {
      throw new ReferenceError(`Cannot expand environment variable '${name}': it is not set`);
    }
    out += value;
  }
  return out;
}

/**
 * Returns the variable name when `text` is exactly one reference (`$NAME` or
 * `${NAME}`), else `undefined`. Used to decide whether naming the variable in
 * a message could reveal part of a secret literal.
 *
 * @param text a config string value
 * @returns the referenced name, or `undefined`
 */
export function soleVariable(text: string): string | undefined {
  return /^\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})$/
    .exec(text)
    ?.slice(1)
    .find((group) => group !== undefined);
}
