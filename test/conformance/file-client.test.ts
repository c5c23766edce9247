import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { FileReplicaClient } from "../../src/replica/file/replica-client.ts";
import { makeTempDir } from "../harness/temp-dir.ts";
import { runReplicaClientSuite } from "./replica-client.ts";

runReplicaClientSuite(
  "FileReplicaClient",
  async () => {
    const dir = await makeTempDir("litefleet-file-replica-");
    const root = join(dir.path, "replica");
    return {
      client: new FileReplicaClient({ type: "file", path: root }),
      async writeRaw(level, path, body) {
        const full = join(root, "ltx", String(level), path);
        await mkdir(dirname(full), { recursive: true });
        await writeFile(full, body);
      },
      [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose](),
    };
  },
  { listsWriteTimestamp: true },
);
