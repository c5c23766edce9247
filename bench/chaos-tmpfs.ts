/**
 * A small tmpfs as the agent's state directory, so the chaos benchmark can
 * fill it to the last byte (ENOSPC) and free it again. Mounting needs root
 * (`mount -t tmpfs`); {@linkcode canMountTmpfs} finds out once.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The filler file's name inside the state directory. */
export const FILLER = ".chaos-enospc-filler";

/** True when this process may mount a tmpfs (tried on a throwaway directory). */
export function canMountTmpfs(): boolean {
  const dir = mkdtempSync(join(tmpdir(), "chaos-mount-probe-"));
  try {
    if (spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]).status !== 0) return false;
    spawnSync("umount", [dir]);
    return true;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Mounts a tmpfs of `size` (e.g. `64m`) at `dir`, creating it. */
export function mountTmpfs(dir: string, size: string): void {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`Cannot mount tmpfs at '${dir}': ${r.stderr.trim()}`);
}

/** Unmounts `dir` (lazily when busy). Does nothing when it is not mounted. */
export function unmount(dir: string): void {
  if (spawnSync("umount", [dir]).status !== 0) spawnSync("umount", ["-l", dir]);
}

/** Every mount point under `root`, deepest first (for cleanup after a crash). */
export function mountsUnder(root: string): string[] {
  const text = spawnSync("cat", ["/proc/mounts"], { encoding: "utf8" }).stdout;
  return text
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((p) => p.startsWith(`${root}/`))
    .sort((a, b) => b.length - a.length);
}

/** Fills the filesystem of `dir` until a write fails with ENOSPC. Returns the bytes written. */
export function fill(dir: string): number {
  const fd = openSync(join(dir, FILLER), "a");
  const chunk = Buffer.alloc(64 * 1024);
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOSPC") {
          // Top off the last partial chunk too.
          for (let n = 4096; n >= 1; n = Math.floor(n / 2)) {
            try {
              written += writeSync(fd, chunk.subarray(0, n));
              n *= 2;
            } catch {
              // smaller next
            }
          }
          return written;
        }
        throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Removes the filler. */
export function unfill(dir: string): void {
  try {
    unlinkSync(join(dir, FILLER));
  } catch {
    // Not there.
  }
}

/** Bytes of every file under `dir` (the filler excluded), 0 when it does not exist. */
export function treeBytes(dir: string): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (name === FILLER) continue;
    const path = join(dir, name);
    try {
      const st = statSync(path);
      total += st.isDirectory() ? treeBytes(path) : st.size;
    } catch {
      // Removed meanwhile.
    }
  }
  return total;
}
