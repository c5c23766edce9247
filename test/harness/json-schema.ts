/**
 * A minimal JSON Schema (draft 2020-12) validator for the schemas in
 * docs/schemas/, so tests can check real payloads against them. No
 * validator is installed (no ajv in node_modules) and tests run offline.
 *
 * The subset: `$ref` (`#/…` within a document, `<file>#/…` to another one
 * of the set, by `$id`), `type` (with "integer"), `const`, `enum`,
 * `required`, `properties`, `additionalProperties` (boolean or schema),
 * `items`, `oneOf`, `allOf`, `pattern`, `minimum`, `exclusiveMinimum`; the
 * annotations `$schema`, `$id`, `$defs`, `title`, `description` are
 * skipped. Any other keyword throws, so a schema cannot silently use one
 * this validator would ignore.
 *
 * @module
 */

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

type Schema = boolean | { readonly [keyword: string]: unknown };

const ANNOTATIONS = new Set(["$schema", "$id", "$defs", "title", "description"]);
const KEYWORDS = new Set([
  "$ref",
  "type",
  "const",
  "enum",
  "required",
  "properties",
  "additionalProperties",
  "items",
  "oneOf",
  "allOf",
  "pattern",
  "minimum",
  "exclusiveMinimum",
]);

/** A set of schemas by `$id`, and validation against one of them. */
export class SchemaSet {
  readonly #docs = new Map<string, Schema>();

  /** Loads every `*.schema.json` of `dir`. */
  static load(dir: string): SchemaSet {
    const set = new SchemaSet();
    for (const name of readdirSync(dir).filter((n) => n.endsWith(".schema.json"))) {
      const doc = JSON.parse(readFileSync(join(dir, name), "utf8")) as Record<string, unknown>;
      if (doc["$id"] !== name)
        throw new Error(`Cannot load schema '${name}': its $id is ${JSON.stringify(doc["$id"])}`);
      set.#docs.set(name, doc);
    }
    return set;
  }

  /** Names of the loaded schemas. */
  names(): string[] {
    return [...this.#docs.keys()];
  }

  /**
   * Validates `value` against the schema with `$id` `name`.
   * @returns every error as `<JSON pointer>: <what is wrong>`; empty when valid
   */
  validate(name: string, value: unknown): string[] {
    const doc = this.#docs.get(name);
    if (doc === undefined) throw new Error(`Cannot validate: no schema '${name}' (have ${this.names().join(", ")})`);
    const errors: string[] = [];
    this.#check(doc, name, value, "", errors);
    return errors;
  }

  #resolve(ref: string, base: string): { schema: Schema; doc: string } {
    const [file, pointer = ""] = ref.split("#");
    const doc = file === "" || file === undefined ? base : file;
    let node: unknown = this.#docs.get(doc);
    if (node === undefined) throw new Error(`Cannot resolve $ref '${ref}': no schema '${doc}'`);
    for (const part of pointer.split("/").filter((p) => p !== "")) {
      node = (node as Record<string, unknown>)[part];
      if (node === undefined) throw new Error(`Cannot resolve $ref '${ref}' in '${base}'`);
    }
    return { schema: node as Schema, doc };
  }

  #check(schema: Schema, doc: string, value: unknown, at: string, errors: string[]): void {
    if (schema === true) return;
    if (schema === false) {
      errors.push(`${at || "/"}: no value is allowed here`);
      return;
    }
    for (const key of Object.keys(schema))
      if (!KEYWORDS.has(key) && !ANNOTATIONS.has(key))
        throw new Error(
          `Cannot validate with keyword '${key}' (in '${doc}' at ${at || "/"}): not in this validator's subset`,
        );
    const s = schema as Record<string, unknown>;
    const here = at || "/";
    if (typeof s["$ref"] === "string") {
      const target = this.#resolve(s["$ref"], doc);
      this.#check(target.schema, target.doc, value, at, errors);
    }
    if (s["type"] !== undefined) {
      const types = Array.isArray(s["type"]) ? (s["type"] as string[]) : [s["type"] as string];
      if (!types.some((t) => hasType(value, t))) {
        errors.push(`${here}: ${JSON.stringify(value)?.slice(0, 60)} is not of type ${types.join(" or ")}`);
        return;
      }
    }
    if ("const" in s && !equal(value, s["const"])) errors.push(`${here}: must be ${JSON.stringify(s["const"])}`);
    if (Array.isArray(s["enum"]) && !s["enum"].some((e) => equal(value, e)))
      errors.push(`${here}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s["enum"])}`);
    if (typeof value === "string" && typeof s["pattern"] === "string" && !new RegExp(s["pattern"], "u").test(value))
      errors.push(`${here}: ${JSON.stringify(value)} does not match ${s["pattern"]}`);
    if (typeof value === "number") {
      if (typeof s["minimum"] === "number" && value < s["minimum"]) errors.push(`${here}: ${value} < ${s["minimum"]}`);
      if (typeof s["exclusiveMinimum"] === "number" && value <= s["exclusiveMinimum"])
        errors.push(`${here}: ${value} <= ${s["exclusiveMinimum"]}`);
    }
    if (Array.isArray(value) && s["items"] !== undefined)
      for (const [i, item] of value.entries()) this.#check(s["items"] as Schema, doc, item, `${at}/${i}`, errors);
    if (isObject(value)) {
      for (const key of (s["required"] as string[] | undefined) ?? [])
        if (!(key in value)) errors.push(`${here}: '${key}' is required`);
      const props = (s["properties"] as Record<string, Schema> | undefined) ?? {};
      for (const [key, v] of Object.entries(value)) {
        if (Object.hasOwn(props, key)) this.#check(props[key] as Schema, doc, v, `${at}/${key}`, errors);
        else if (s["additionalProperties"] !== undefined)
          this.#check(s["additionalProperties"] as Schema, doc, v, `${at}/${key}`, errors);
      }
    }
    for (const sub of (s["allOf"] as Schema[] | undefined) ?? []) this.#check(sub, doc, value, at, errors);
    if (Array.isArray(s["oneOf"])) {
      const results = (s["oneOf"] as Schema[]).map((sub) => {
        const e: string[] = [];
        this.#check(sub, doc, value, at, e);
        return e;
      });
      const passed = results.filter((e) => e.length === 0).length;
      if (passed === 0) {
        const closest = results.reduce((a, b) => (b.length < a.length ? b : a));
        errors.push(`${here}: matches none of oneOf (closest: ${closest.join("; ")})`);
      } else if (passed > 1) errors.push(`${here}: matches ${passed} of oneOf, not exactly one`);
    }
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case "null":
      return value === null;
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "array":
      return Array.isArray(value);
    case "object":
      return isObject(value);
    default:
      return typeof value === type;
  }
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
