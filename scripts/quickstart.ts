/**
 * `npm run quickstart`: a demo with no cloud account. Creates
 * `.tmp/quickstart/app.db`, writes a sensor reading into it every second,
 * and runs `litefleet replicate --config etc/quickstart.yml`, which
 * replicates it to the file replica `.tmp/quickstart/replica`. Ctrl-C stops
 * both; the restore command to try next is printed.
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { main } from "../src/cli/main.ts";
import { processIo } from "../src/cli/io.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
mkdirSync(`${root}.tmp/quickstart`, { recursive: true });
const db = new Database(`${root}.tmp/quickstart/app.db`, { create: true });
db.exec("PRAGMA journal_mode = wal; PRAGMA busy_timeout = 5000;");
db.exec("CREATE TABLE IF NOT EXISTS readings (id INTEGER PRIMARY KEY, at TEXT, celsius REAL)");
const timer = setInterval(() => {
  db.run("INSERT INTO readings (at, celsius) VALUES (?, ?)", [new Date().toISOString(), 20 + Math.random() * 5]);
}, 1000);
process.once("SIGINT", () => clearInterval(timer));
process.once("SIGTERM", () => clearInterval(timer));

const code = await main(["replicate", "--config", `${root}etc/quickstart.yml`], processIo());
clearInterval(timer);
db.close();
process.stderr.write(
  `\nReplica written to .tmp/quickstart/replica. Try:\n` +
    `  npx bun src/cli/main.ts ltx .tmp/quickstart/replica\n` +
    `  npx bun src/cli/main.ts restore -o /tmp/restored.db .tmp/quickstart/replica\n`,
);
process.exit(code);
