/**
 * "Did you mean …?" suggestions for misspelled config keys.
 *
 * @module
 */

/**
 * Returns the Levenshtein edit distance between two strings: the number of
 * single-character insertions, deletions and substitutions that turn `a`
 * into `b`.
 *
 * @example
 * ```ts
 * levenshtein("bukket", "bucket"); // 1
 * ```
 *
 * @param a the first string
 * @param b the second string
 * @returns the edit distance (0 when equal)
 */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  // One row of the classic dynamic-programming table is enough.
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** Lowercases and drops `-`/`_` so `forcePathStyle` matches `force-path-style`. */
function canonical(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, "");
}

/**
 * Finds the allowed key closest to a misspelled one.
 *
 * A key that differs only in case or separators (`forcePathStyle`,
 * `access_key_id`) matches its kebab-case form. Otherwise the closest key
 * within edit distance 2 is returned, provided the distance is smaller than
 * the shorter key's length (so `x` does not suggest `id`). Ties go to the
 * key listed first.
 *
 * @example
 * ```ts
 * suggestKey("bukket", ["bucket", "path"]); // "bucket"
 * suggestKey("zzz", ["bucket", "path"]); // undefined
 * ```
 *
 * @param key the key that was not recognised
 * @param allowed the keys allowed at that position
 * @returns the suggestion, or `undefined` when nothing is close
 */
export function suggestKey(key: string, allowed: readonly string[]): string | undefined {
  const wanted = canonical(key);
  const exact = allowed.find((candidate) => canonical(candidate) === wanted);
  if (exact !== undefined) return exact;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const d = levenshtein(key.toLowerCase(), candidate);
    if (d <= 2 && d < Math.min(key.length, candidate.length) && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}
