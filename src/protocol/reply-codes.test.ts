import { describe, expect, test } from "bun:test";
import { FAILURE_CODES, REFUSAL_CODES } from "./reply-codes.ts";

describe("reply codes", () => {
  test("refusal and failure codes are distinct", () => {
    const all: string[] = [...REFUSAL_CODES, ...FAILURE_CODES];
    expect(new Set(all).size).toBe(all.length);
  });
});
