import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SchemaSet } from "./json-schema.ts";
import { makeTempDir } from "./temp-dir.ts";

async function schemas(docs: Record<string, object>) {
  const dir = await makeTempDir("lf-schema-");
  for (const [name, doc] of Object.entries(docs))
    writeFileSync(join(dir.path, name), JSON.stringify({ $id: name, ...doc }));
  return { set: SchemaSet.load(dir.path), [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose]() };
}

describe("SchemaSet.validate()", () => {
  test("reports each violation of the subset, with its JSON pointer", async () => {
    await using s = await schemas({
      "a.schema.json": {
        type: "object",
        additionalProperties: false,
        required: ["n", "kind"],
        properties: {
          n: { type: "integer", minimum: 1 },
          kind: { enum: ["x", "y"] },
          id: { type: "string", pattern: "^k[0-9]+$" },
          list: { type: "array", items: { $ref: "b.schema.json#/$defs/item" } },
          either: { oneOf: [{ type: "string" }, { type: "null" }] },
        },
      },
      "b.schema.json": { $defs: { item: { type: "object", required: ["v"], properties: { v: { const: 1 } } } } },
    });
    expect(s.set.validate("a.schema.json", { n: 2, kind: "x", id: "k1", list: [{ v: 1 }], either: null })).toEqual([]);
    expect(
      s.set.validate("a.schema.json", { n: 0.5, kind: "z", id: "q", list: [{ v: 2 }, {}], either: 3, extra: true }),
    ).toEqual([
      "/n: 0.5 is not of type integer",
      '/kind: "z" is not one of ["x","y"]',
      '/id: "q" does not match ^k[0-9]+$',
      "/list/0/v: must be 1",
      "/list/1: 'v' is required",
      "/either: matches none of oneOf (closest: /either: 3 is not of type string)",
      "/extra: no value is allowed here",
    ]);
  });

  test("throws on a keyword outside its subset rather than ignoring it", async () => {
    await using s = await schemas({ "c.schema.json": { type: "string", format: "date-time" } });
    expect(() => s.set.validate("c.schema.json", "x")).toThrow(
      "Cannot validate with keyword 'format' (in 'c.schema.json' at /): not in this validator's subset",
    );
  });
});
