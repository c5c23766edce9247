/**
 * Strict, typed reading of one YAML mapping of the config: unknown keys are
 * errors with a "did you mean", every value is type-checked, string values
 * are environment-expanded, and every error is a `ConfigError` whose `field`
 * is the key path (`dbs[0].replicas[1].bucket`). Values of secret keys are
 * never echoed.
 *
 * @module
 */

import { posix } from "node:path";
import { ConfigError, errorMessage } from "../errors.ts";
import { parseByteSize } from "./byte-size.ts";
import { parseDuration } from "./duration.ts";
import { expandEnv, soleVariable, type VariableLookup } from "./expand.ts";
import { suggestKey } from "./suggest.ts";

/** Prefix of every config error message. */
export const CONFIG_ERROR_PREFIX = "Cannot read config";

/**
 * Reports whether a key holds a credential, whose value must never appear in
 * a message or in `ConfigError.value`.
 *
 * @param key a key name or path
 * @returns true for keys containing `secret`, `password`, `key-id`, `token` or
 *   `credential`, or ending in `key`
 */
export function isSecretKey(key: string): boolean {
  return /secret|password|key-?id|token|credential|(^|-)key$/i.test(key.split(".").pop() ?? key);
}

/**
 * Joins a parent path and a key or list index: `dbs` + 0 → `dbs[0]`,
 * `dbs[0]` + `path` → `dbs[0].path`, `` + `dbs` → `dbs`.
 *
 * @param parent the parent path, `""` for the document root
 * @param key a mapping key or list index
 * @returns the child path
 */
export function fieldPath(parent: string, key: string | number): string {
  if (typeof key === "number") return `${parent}[${key}]`;
  return parent === "" ? key : `${parent}.${key}`;
}

/**
 * Describes a received value for a message: strings quoted (and shortened),
 * numbers and booleans as written, collections by kind. For a secret key
 * only the kind is given.
 *
 * @param value the parsed YAML value
 * @param secret whether the value belongs to a secret key
 * @returns the description, e.g. `'abc'`, `42`, `a list`
 */
export function describeValue(value: unknown, secret: boolean): string {
  if (value === null || value === undefined) return "an empty value";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (secret) return `a ${typeof value}`;
  if (typeof value === "string") {
    return `'${value.length > 80 ? `${value.slice(0, 77)}...` : value}'`;
  }
  return String(value);
}

/**
 * Builds a `ConfigError` with the standard prefix; the value is dropped for
 * secret fields.
 *
 * @param field the key path
 * @param state what is wrong, completing "Cannot read config: <state>"
 * @param options the received value and the underlying error
 * @returns the error, for the caller to throw
 */
export function configError(
  field: string,
  state: string,
  options: { value?: unknown; cause?: unknown } = {},
): ConfigError {
  return new ConfigError(`${CONFIG_ERROR_PREFIX}: ${state}`, {
    field,
    ...(options.value === undefined || isSecretKey(field) ? {} : { value: options.value }),
    ...(options.cause === undefined ? {} : { cause: options.cause }),
  });
}

function lowerFirst(message: string): string {
  return message.charAt(0).toLowerCase() + message.slice(1);
}

/** Reads the keys of one mapping; see the module doc. */
export class MapReader {
  /** Key path of this mapping, `""` for the document root. */
  readonly field: string;
  readonly #map: Readonly<Record<string, unknown>>;
  readonly #lookup: VariableLookup;

  /**
   * Wraps `value`, which must be a mapping.
   *
   * @param value the parsed YAML value
   * @param field its key path
   * @param lookup how `$NAME` is resolved in string values
   * @throws {ConfigError} when `value` is not a mapping
   */
  constructor(value: unknown, field: string, lookup: VariableLookup) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      const what = field === "" ? "the document" : `'${field}'`;
      throw configError(
        field,
        `${what} must be a mapping of keys to values: received ${describeValue(value, isSecretKey(field))}`,
        { value },
      );
    }
    this.field = field;
    this.#map = value as Record<string, unknown>;
    this.#lookup = lookup;
  }

  /**
   * Rejects keys not in `allowed`. Keys in `unsupported` get the explanation
   * given there instead of a spelling suggestion.
   *
   * @throws {ConfigError} for the first key not allowed
   */
  checkKeys(allowed: readonly string[], unsupported: Readonly<Record<string, string>> = {}): void {
    for (const key of Object.keys(this.#map)) {
      if (allowed.includes(key)) continue;
      const field = fieldPath(this.field, key);
      const reason = Object.hasOwn(unsupported, key) ? unsupported[key] : undefined;
      if (reason !== undefined) throw configError(field, `key '${field}' ${reason}`);
      const suggestion = suggestKey(key, allowed);
      const hint = suggestion === undefined ? "" : ` (did you mean '${suggestion}'?)`;
      throw configError(field, `unknown key '${field}'${hint}`);
    }
  }

  /** Whether `key` is present with a non-null value. */
  has(key: string): boolean {
    return this.raw(key) !== undefined;
  }

  /** The value of `key` as parsed, `undefined` when absent or null (`key:` with no value). */
  raw(key: string): unknown {
    const value = Object.hasOwn(this.#map, key) ? this.#map[key] : undefined;
    return value === null ? undefined : value;
  }

  /**
   * Reads an environment-expanded string.
   *
   * @param options `allowEmpty`: return `""` (after expansion) instead of
   * rejecting it, for keys where an empty string means "off"
   * @throws {ConfigError} when the value is not a string, is empty after
   * expansion (unless `allowEmpty`), or references an unset variable
   */
  string(key: string, options: { readonly allowEmpty?: boolean } = {}): string | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    return this.#scalarString(value, fieldPath(this.field, key), options.allowEmpty ?? false);
  }

  /**
   * Reads a list of environment-expanded strings; errors name the item
   * (`upload.windows[1]`).
   *
   * @throws {ConfigError} when the value is not a list, or an item is not a
   * non-empty string or references an unset variable
   */
  stringList(key: string): string[] | undefined {
    const list = this.list(key);
    if (list === undefined) return undefined;
    const field = fieldPath(this.field, key);
    return list.map((item, i) => this.#scalarString(item, fieldPath(field, i), false));
  }

  /**
   * Reads a file system path: an expanded string, `~` replaced by `$HOME`,
   * resolved against `base`, without a trailing `/`.
   *
   * @param base absolute directory relative paths are resolved against
   * @throws {ConfigError} when the value is not a string, looks like a URL,
   * or starts with `~` while `HOME` is unset
   */
  path(key: string, base: string): string | undefined {
    const text = this.string(key);
    if (text === undefined) return undefined;
    const field = fieldPath(this.field, key);
    if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text)) {
      throw configError(field, `'${field}' must be a path, not a URL: received ${describeValue(text, false)}`, {
        value: text,
      });
    }
    return resolvePath(text, { base, field, lookup: this.#lookup });
  }

  /**
   * Reads a boolean: YAML `true`/`false`, or (after expansion) the strings
   * `true`/`false`/`yes`/`no`/`on`/`off` in any case.
   *
   * @throws {ConfigError} for anything else
   */
  boolean(key: string): boolean | undefined {
    const value = this.raw(key);
    if (value === undefined || typeof value === "boolean") return value;
    const field = fieldPath(this.field, key);
    const text = typeof value === "string" ? this.#expand(field, value, false).toLowerCase() : "";
    if (["true", "yes", "on"].includes(text)) return true;
    if (["false", "no", "off"].includes(text)) return false;
    throw configError(field, `'${field}' must be true or false: received ${describeValue(value, false)}`, {
      value,
    });
  }

  /**
   * Reads a duration string ("10s", "1m30s") as milliseconds.
   *
   * @param min the smallest accepted value: 1 for intervals, 0 where zero means "none"
   * @throws {ConfigError} when the value is not a duration or is below `min`
   */
  duration(key: string, min: 0 | 1): number | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    const field = fieldPath(this.field, key);
    let ms: number;
    try {
      if (typeof value !== "string" && typeof value !== "number") throw new TypeError("wrong type");
      ms = parseDuration(typeof value === "string" ? this.#expand(field, value, false) : value);
    } catch (cause) {
      if (cause instanceof ConfigError) throw cause;
      const detail =
        typeof value === "string" || typeof value === "number"
          ? `: ${lowerFirst(errorMessage(cause))}`
          : `: received ${describeValue(value, false)}`;
      throw configError(field, `'${field}' must be a duration like '10s' or '1m30s'${detail}`, {
        value,
        cause,
      });
    }
    if (ms < min) {
      throw configError(field, `'${field}' must be greater than 0: received ${describeValue(value, false)}`, {
        value,
      });
    }
    return ms;
  }

  /**
   * Reads a byte size ("16MiB", "512KiB", or an integer number of bytes).
   * With `perSecond`, the value is a rate and may end in `/s` ("64KiB/s").
   *
   * @param min the smallest accepted value: 1 for sizes, 0 where zero means "none"
   * @param options `perSecond`: accept (and drop) a trailing `/s`
   * @throws {ConfigError} when the value is not a byte size or is below `min`
   */
  byteSize(key: string, min: 0 | 1, options: { readonly perSecond?: boolean } = {}): number | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    const field = fieldPath(this.field, key);
    const perSecond = options.perSecond ?? false;
    let bytes: number;
    try {
      if (typeof value !== "string" && typeof value !== "number") throw new TypeError("wrong type");
      const text = typeof value === "string" ? this.#expand(field, value, false) : value;
      bytes = parseByteSize(typeof text === "string" && perSecond ? text.replace(/\s*\/\s*s\s*$/i, "") : text);
    } catch (cause) {
      if (cause instanceof ConfigError) throw cause;
      const like = perSecond ? "a rate like '64KiB/s' or '1MB/s'" : "a byte size like '16MiB' or '512KiB'";
      const detail =
        typeof value === "string" || typeof value === "number"
          ? `: ${lowerFirst(errorMessage(cause))}`
          : `: received ${describeValue(value, false)}`;
      throw configError(field, `'${field}' must be ${like}${detail}`, { value, cause });
    }
    if (bytes < min) {
      throw configError(field, `'${field}' must be greater than 0: received ${describeValue(value, false)}`, {
        value,
      });
    }
    return bytes;
  }

  /**
   * Reads a whole number (a YAML integer, or a string of digits after expansion).
   *
   * @param min the smallest accepted value
   * @throws {ConfigError} when the value is not an integer or is below `min`
   */
  integer(key: string, min: number): number | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    const field = fieldPath(this.field, key);
    const text = typeof value === "string" ? this.#expand(field, value, false).trim() : undefined;
    const n = typeof value === "number" ? value : /^\d+$/.test(text ?? "") ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n < min) {
      const what = min === 1 ? "a positive integer" : `an integer of at least ${min}`;
      throw configError(field, `'${field}' must be ${what}: received ${describeValue(value, false)}`, {
        value,
      });
    }
    return n;
  }

  /**
   * Reads one of a fixed set of lowercase words (compared case-insensitively).
   *
   * @throws {ConfigError} for any other value
   */
  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    const field = fieldPath(this.field, key);
    const text = typeof value === "string" ? this.#expand(field, value, false).toLowerCase() : undefined;
    const found = values.find((v) => v === text);
    if (found === undefined) {
      const list = values.map((v) => `'${v}'`).join(", ");
      throw configError(field, `'${field}' must be one of ${list}: received ${describeValue(value, false)}`, {
        value,
      });
    }
    return found;
  }

  /**
   * Reads a nested mapping.
   *
   * @throws {ConfigError} when the value is not a mapping
   */
  map(key: string): MapReader | undefined {
    const value = this.raw(key);
    return value === undefined ? undefined : new MapReader(value, fieldPath(this.field, key), this.#lookup);
  }

  /**
   * Reads a list.
   *
   * @throws {ConfigError} when the value is not a list
   */
  list(key: string): readonly unknown[] | undefined {
    const value = this.raw(key);
    if (value === undefined || Array.isArray(value)) return value;
    const field = fieldPath(this.field, key);
    throw configError(field, `'${field}' must be a list: received ${describeValue(value, isSecretKey(field))}`, {
      value,
    });
  }

  /**
   * Wraps item `index` of the list under `key`, which must be a mapping, in a
   * reader of its own.
   *
   * @throws {ConfigError} when `key` is not a list or the item is not a mapping
   */
  item(key: string, index: number): MapReader {
    const item = this.list(key)?.[index];
    return new MapReader(item, fieldPath(fieldPath(this.field, key), index), this.#lookup);
  }

  #scalarString(value: unknown, field: string, allowEmpty: boolean): string {
    const secret = isSecretKey(field);
    if (typeof value !== "string") {
      const quote = typeof value === "number" || typeof value === "boolean";
      const hint = quote && !secret ? ` (put it in quotes: '"${value}"')` : "";
      throw configError(field, `'${field}' must be a string: received ${describeValue(value, secret)}${hint}`, {
        value,
      });
    }
    const expanded = this.#expand(field, value, secret);
    if (!allowEmpty && expanded.trim() === "") {
      throw configError(field, `'${field}' must not be empty`, { value });
    }
    return expanded;
  }

  #expand(field: string, text: string, secret: boolean): string {
    const lookup: VariableLookup = (name) => {
      const value = this.#lookup(name);
      if (value !== undefined) return value;
      // Naming the variable is safe unless it may be a fragment of a secret literal.
      const named = !secret || soleVariable(text) === name;
      throw configError(
        field,
        named
          ? `environment variable '${name}' used in '${field}' is not set`
          : `'${field}' refers to an environment variable that is not set`,
      );
    };
    try {
      return expandEnv(text, lookup);
    } catch (cause) {
      if (cause instanceof ConfigError) throw cause;
      throw configError(field, `'${field}' cannot be expanded: ${lowerFirst(errorMessage(cause))}`, {
        cause,
      });
    }
  }
}

/**
 * Resolves a config path: `~` or `~/…` becomes `$HOME` (looked up like any
 * variable), then the path is resolved against `base` and loses any trailing `/`.
 *
 * @param text the path as written (already expanded)
 * @param options `base`: absolute directory for relative paths; `field`: key
 * path for errors; `lookup`: variable lookup, for `HOME`
 * @returns the absolute path
 * @throws {ConfigError} when the path starts with `~` and `HOME` is unset
 */
export function resolvePath(
  text: string,
  options: { readonly base: string; readonly field: string; readonly lookup: VariableLookup },
): string {
  const { base, field, lookup } = options;
  let path = text;
  if (path === "~" || path.startsWith("~/")) {
    const home = lookup("HOME");
    if (home === undefined || home === "") {
      throw configError(field, `'${field}' starts with '~' but environment variable 'HOME' is not set`);
    }
    path = home + path.slice(1);
  }
  const resolved = posix.resolve(base, path);
  return resolved.length > 1 ? resolved.replace(/\/+$/, "") : resolved;
}
