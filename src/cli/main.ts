#!/usr/bin/env bun
/**
 * The `litefleet` command: parses arguments (commander), dispatches to one
 * file per subcommand, and maps errors to messages and exit codes.
 *
 * Every subcommand's module is imported only when that subcommand runs
 * (`await import("./x.ts")` in its action), so a run loads the code it uses
 * and no more: `replicate` never loads the v0.3 reader, the fleet's operator
 * side or the Parquet writer (issue #13). The options stay declared here,
 * so `--help` lists them all without loading any subcommand. The
 * specifiers are literals, which `bun build --compile` bundles.
 *
 * @module
 */

import { Command, CommanderError, Option } from "commander";
import {
  ChecksumMismatchError,
  ConfigError,
  CorruptFileError,
  LocalFileError,
  OutputError,
  ReplicaError,
  UsageError,
  errorMessage,
} from "../errors.ts";
import { localFileError } from "../platform/file-errors.ts";
import { NoRestorePointError } from "../restore/planner.ts";
import { ExitCode, processIo, type CliIo } from "./io.ts";
import type { ReplicateOptions } from "./replicate.ts";
import { runVersion, versionLine } from "./version.ts";

/** Long options that Litestream spells with one dash (`-config`). */
const SINGLE_DASH_ALIASES = new Set([
  "config",
  "txid",
  "timestamp",
  "if-db-not-exists",
  "if-replica-exists",
  "replica",
  "json",
  "output",
  "addr",
  "timeout",
  "exec",
  "restore-if-db-not-exists",
  "once",
  "generation",
  "index",
  "from",
  "to",
  "history",
  "integrity-check",
  "parallelism",
  "dry-run",
  "follow-interval",
]);

/** Rewrites Litestream-style `-config x` into `--config x`. */
export function normalizeArgs(args: readonly string[]): string[] {
  return args.map((a) => {
    const m = /^-([a-z][a-z-]+)(=.*)?$/.exec(a);
    return m && SINGLE_DASH_ALIASES.has(m[1] ?? "") ? `-${a}` : a;
  });
}

/**
 * Runs the CLI with `args` (without the program name) and returns the exit code.
 */
export async function main(args: readonly string[], io: CliIo): Promise<number> {
  let code: number = ExitCode.ok;
  const program = new Command("litefleet")
    .description("Replicate SQLite databases to S3 or a directory (Litestream v0.5 layout), fleet-ready")
    // `--version` and `-V` print the same line as `litefleet version`.
    .version(versionLine(), "-V, --version", "print the version")
    // Program options only before the subcommand: `fleet status --version 0.9` is the
    // subcommand's filter, not the program's version flag.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError("(run with --help for usage)");
  const configOption = () =>
    new Option("-c, --config <file>", "config file (default: $LITEFLEET_CONFIG, else /etc/litefleet.yml)");

  program
    .command("replicate")
    .description("replicate the configured databases (or DB_PATH to REPLICA_URL) until stopped")
    .argument("[db_path]", "database to replicate (with REPLICA_URL, instead of a config file)")
    .argument("[replica_url]", "s3://bucket/path?endpoint=…, file:///dir or a directory")
    .addOption(configOption())
    .option(
      "--exec <command>",
      "run the application as a child after the first sync; forward signals; exit with its code",
    )
    .option("--restore-if-db-not-exists", "restore a missing database from its first replica before replicating")
    .option("--once", "capture, upload everything pending and the handover tip, then exit (not with --exec)")
    .action(async (db: string | undefined, url: string | undefined, opts: ReplicateOptions) => {
      const { runReplicate } = await import("./replicate.ts");
      code = await runReplicate(
        io,
        [db, url].filter((x): x is string => x !== undefined),
        opts,
      );
    });

  program
    .command("restore")
    .description("restore a database from its replica")
    .argument("<source>", "DB_PATH from the config, or REPLICA_URL")
    .addOption(configOption())
    .option("-o, --output <path>", "where to write the database (default: the configured DB_PATH)")
    .option("--txid <hex>", "restore exactly this TXID")
    .option("--timestamp <rfc3339>", "restore the last state at or before this time")
    .option("--generation <hex>", "Litestream v0.3 replicas: restore from this generation")
    .option("--index <n>", "Litestream v0.3 replicas: apply WAL up to this index (needs --generation)")
    .option("--replica <name>", "which configured replica to use (default: the first)")
    .option("--if-db-not-exists", "do nothing (exit 0) when the output exists")
    .option("--if-replica-exists", "do nothing (exit 0) when the replica holds no backup")
    .option("--integrity-check <mode>", "check before the output appears: none, quick or full (default full)")
    .option("--parallelism <n>", "files downloaded at once, applied in order (default 8)")
    .option("--dry-run", "print the plan (files per level, TXIDs, bytes, output) and write nothing")
    .option("-f, --follow", "after the restore, keep applying new files: a continuously updated read copy")
    .option("--follow-interval <duration>", "how often --follow polls the replica (default 1s)")
    .option("--json", "print the result as JSON on stdout")
    .action(async (source: string, opts) => {
      const { runRestore } = await import("./restore.ts");
      code = await runRestore(io, source, opts);
    });

  program
    .command("ltx")
    .description("list a replica's LTX files per level")
    .argument("<source>", "DB_PATH from the config, or REPLICA_URL")
    .addOption(configOption())
    .option("--replica <name>", "which configured replica to use (default: the first)")
    .option("--json", "print JSON on stdout")
    .action(async (source: string, opts) => {
      const { runLtx } = await import("./ltx.ts");
      code = await runLtx(io, source, opts);
    });

  program
    .command("verify")
    .description("prove that the replica holds the live database (checksums only; --full restores and compares pages)")
    .argument("<db_path>", "the live database (configured, or with REPLICA_URL)")
    .argument(
      "[replica_url]",
      "s3://bucket/path?endpoint=…, file:///dir or a directory (default: the configured replica)",
    )
    .addOption(configOption())
    .option("--replica <name>", "which configured replica to use (default: the first)")
    .option("--full", "restore into a temporary file and compare page by page")
    .option("--json", "print the proof as JSON on stdout")
    .action(async (db: string, url: string | undefined, opts) => {
      const { runVerify } = await import("./verify.ts");
      code = await runVerify(io, db, url, opts);
    });

  program
    .command("migrate")
    .description("convert a Litestream v0.3 replica into LTX files (v0.5 layout) that replicate continues from")
    .option("--from <replica>", "the Litestream v0.3 replica: s3://bucket/path?endpoint=…, file:///dir or a directory")
    .option("--to <replica>", "the destination replica (may be the same path); must hold no LTX files")
    .option("--history", "convert every restore point of every generation, not only the latest state")
    .option("--work-dir <dir>", "where to stage the database while converting (default: the system temp dir)")
    .option("--json", "print the result as JSON on stdout")
    .action(async (opts) => {
      const { runMigrate } = await import("./migrate.ts");
      code = await runMigrate(io, opts);
    });

  program
    .command("aggregate")
    .description("merge every device's database into one central SQLite database (incremental; Parquet export; shards)")
    .option("--fleet <url>", "the fleet prefix: s3://bucket/prefix?endpoint=… or a directory holding <device>/<db>/")
    .option("--db <name>", "the database under each device prefix (default app.db)")
    .option("--out <path>", "the central SQLite database (created when missing)")
    .option("--tables <list>", "comma-separated tables to merge (default: all)")
    .option("--cache <dir>", "local copies of the device databases (default: <out>.cache)")
    .option("--parquet <dir|url>", "also export hive-partitioned Parquet: device_id=<id>/<table>/part-00000.parquet")
    .option("--shard <i/N>", "only the devices whose stable hash falls in shard i of N")
    .option("--concurrency <n>", "devices downloaded at once (default 8)")
    .option("--json", "print the report as JSON on stdout")
    .action(async (opts) => {
      const { runAggregate } = await import("./aggregate.ts");
      code = await runAggregate(io, opts);
    });

  const fleet = program
    .command("fleet")
    .description("operator commands: keys, fleet status, signed commands, dashboard (docs/FLEET.md)");
  const brokerOptions = (cmd: Command): Command =>
    cmd
      .addOption(configOption())
      .option(
        "--broker <url>",
        "MQTT broker (default: $LITEFLEET_MQTT_URL, else the config's mqtt.url); password from $LITEFLEET_MQTT_PASSWORD",
      )
      .option("--username <name>", "MQTT user name (default: $LITEFLEET_MQTT_USERNAME)")
      .option("--ca <file>", "CA bundle (PEM) for mqtts:// / wss://")
      .option("--cert <file>", "client certificate (PEM)")
      .option("--key <file>", "client certificate key (PEM)")
      .option("--protocol <version>", "5 (default) or 3.1.1")
      .option("--topic-root <root>", "topic root (default: litefleet/v1)");
  fleet
    .command("keygen")
    .description("make an Ed25519 operator key: the private key file and the public key line for device configs")
    .option("--out <file>", "where to write the private key (mode 0600; never overwritten)")
    .action(async (opts) => {
      const { runFleetKeygen } = await import("./fleet.ts");
      code = runFleetKeygen(io, opts);
    });
  const viewOptions = (cmd: Command): Command =>
    cmd.option(
      "--rpo <duration>",
      "a database whose oldest change not yet in every replica waited longer is 'lagging' (default 30m)",
    );
  viewOptions(
    brokerOptions(
      fleet
        .command("status")
        .description("show every database of every device from their retained statuses, problems first"),
    ),
  )
    .option("--state <states>", "only rows in these states (comma-separated: error,conflict,offline,stale,…)")
    .option("--lag-over <duration>", "only databases lagging more than this (e.g. 1h)")
    .option("--search <text>", "only rows whose device id or database path contains this (ignoring case)")
    .option("--version <versions>", "only devices running these agent versions (comma-separated; 0.9 matches 0.9.x)")
    .option("--watch", "keep printing after changes (at most once a second) until Ctrl-C")
    .option("--wait <duration>", "print once no retained status has arrived for this long (default 500ms)")
    .option("--json", "print the device list as JSON (the summary goes to stderr)")
    .action(async (opts) => {
      const { runFleetStatus } = await import("./fleet.ts");
      code = await runFleetStatus(io, opts);
    });
  brokerOptions(
    fleet
      .command("send")
      .description(
        "send a signed command and follow its replies (sync, snapshot, status, verify, restore); with --select or --devices, to many devices",
      )
      .usage("[options] <device> <command>  |  --select SELECTOR [options] <command>")
      .argument("<device>", "device id (left out with --select / --devices)")
      .argument("[command]", "sync | snapshot | status | verify | restore"),
  )
    .option("--operator-key <file>", "operator private key (default: $LITEFLEET_OPERATOR_KEY)")
    .option("--db <path>", "the device's database (default: all; required for restore)")
    .option("--txid <hex>", "restore: this TXID")
    .option("--timestamp <time>", "restore: the last state at or before this time (RFC 3339, or Unix ms)")
    .option(
      "--output <path>",
      "restore: to this path on the device (inside fleet.restore-dirs) instead of the live database",
    )
    .option("--full", "verify: restore and compare page by page")
    .option("--id <id>", "command id (default: random); resending the same id never runs a command twice")
    .option(
      "--timeout <duration>",
      "the command's deadline: give up waiting for its final reply after this long (default 60s; 10m for restore and verify)",
    )
    .option("--ttl <duration>", "how long the command stays valid (default 5m)")
    .option("--json", "print every reply as JSON (many devices: the per-device outcomes)")
    .option(
      "--select <selector>",
      "many devices: state=…, version=…, lag-over=…, search=… (repeatable; all must hold)",
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option("--devices <ids>", "many devices: these ids, comma-separated")
    .option("--devices-file <file>", "many devices: the ids in this file (one per line, # comments)")
    .option("--rate <n/s>", "many devices: commands started per second (default 20/s)")
    .option("--max-in-flight <n>", "many devices: commands waiting for their final reply at once (default 100)")
    .option("--wait <duration>", "many devices: how long to collect retained statuses before selecting (default 1s)")
    .option("--dry-run", "many devices: list the selected devices, send nothing")
    .action(async (device: string, command: string | undefined, opts) => {
      const options = { ...opts, ...(opts.operatorKey ? { keyFile: opts.operatorKey } : {}) };
      const many = await import("./fleet-send-many.ts");
      if (many.wantsFleet(options)) {
        if (command !== undefined)
          throw new UsageError(
            `Cannot send to '${device}' and to a selection at once`,
            "give either a device or --select / --devices",
          );
        code = await many.runFleetSendMany(io, device, options);
        return;
      }
      if (command === undefined)
        throw new UsageError("Cannot send: no command", "litefleet fleet send DEVICE COMMAND, e.g. gw-01 sync");
      const { runFleetSend } = await import("./fleet.ts");
      code = await runFleetSend(io, device, command, options);
    });
  viewOptions(brokerOptions(fleet.command("dashboard").description("serve a live fleet page on localhost")))
    .option("--addr <host:port>", "where to listen (default 127.0.0.1:9398)")
    .option(
      "--history <file>",
      "keep the fleet's history here (default $XDG_STATE_HOME/litefleet/fleet-history.db, else ~/.local/state/litefleet/fleet-history.db)",
    )
    .option("--no-history", "keep no history (the timeline panel stays empty)")
    .option("--history-retention <duration>", "drop history older than this (default 7d)")
    .option("--history-max-rows <n>", "keep at most this many history entries, the newest (default 2000000)")
    .action(async (opts) => {
      const { runFleetDashboard } = await import("./fleet.ts");
      code = await runFleetDashboard(io, opts);
    });
  fleet
    .command("history")
    .description("show a device's timeline (state changes, events, lag) from a running dashboard or its history file")
    .argument("<device>", "device id")
    .option("--db <path>", "only this database (and the device's own events)")
    .option("--since <time>", "only entries since: a duration back from now (1h, 2d), RFC 3339, or Unix ms")
    .option("--limit <n>", "at most this many entries, the newest (default 1000, at most 10000)")
    .option("--json", "print the answer of the dashboard's /api/history")
    .option("--url <url>", "the dashboard to ask (default http://127.0.0.1:9398/)")
    .option("--history <file>", "read this history file instead (read-only; the dashboard may keep running)")
    .action(async (device: string, opts) => {
      const { runFleetHistory } = await import("./fleet-history.ts");
      code = await runFleetHistory(io, device, opts);
    });

  program
    .command("takeover")
    .description(
      "after a second-writer conflict: make this device the writer of its replicas (agent stopped; docs/OPERATIONS.md)",
    )
    .argument("[db_path]", "only this configured database (default: all)")
    .addOption(configOption())
    .option(
      "--agent-stopped",
      "with status.addr off (nothing to ask whether the agent runs): you checked that it is stopped",
    )
    .action(async (db: string | undefined, opts) => {
      const { runTakeover } = await import("./takeover.ts");
      code = await runTakeover(io, db, opts);
    });

  program
    .command("databases")
    .description("list the configured databases and replicas")
    .addOption(configOption())
    .option("--json", "print JSON on stdout")
    .action(async (opts) => {
      const { runDatabases } = await import("./databases.ts");
      code = runDatabases(io, opts);
    });

  program
    .command("status")
    .description("show the running agent's replication status (pending, lag, uploads, projected cost)")
    .addOption(configOption())
    .option("--addr <host:port>", "the agent's status address (default: status.addr from the config)")
    .option("--json", "print the status object as JSON")
    .action(async (opts) => {
      const { runStatus } = await import("./status.ts");
      code = await runStatus(io, opts);
    });

  program
    .command("sync")
    .description("make the running agent capture and upload everything now, and wait for it")
    .addOption(configOption())
    .option("--addr <host:port>", "the agent's status address (default: status.addr from the config)")
    .option("--timeout <duration>", "give up after this long: 30s, 5m, 1h (a bare number is seconds; default 5m)")
    .option("--json", "print the result as JSON")
    .action(async (opts) => {
      const { runSync } = await import("./status.ts");
      code = await runSync(io, opts);
    });

  program
    .command("version")
    .description("print the version")
    .action(() => {
      code = runVersion(io);
    });

  try {
    if (args.length === 0) {
      program.outputHelp();
      return ExitCode.usage;
    }
    await program.parseAsync(normalizeArgs(args), { from: "user" });
    return code;
  } catch (err) {
    return reportError(io, err);
  }
}

function reportError(io: CliIo, thrown: unknown): number {
  const err = localFileError(thrown) ?? thrown; // a raw ENOENT/EACCES/EROFS …: name the path and what to do
  if (err instanceof CommanderError) {
    // Commander already printed its message; --help and --version exit 0.
    return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
  if (err instanceof UsageError) {
    io.stderr(`Error: ${err.message}\n${err.hint ? `Try: ${err.hint}\n` : ""}`);
    return ExitCode.usage;
  }
  if (err instanceof ConfigError) {
    io.stderr(`Error: ${err.message}\n`);
    return ExitCode.usage;
  }
  if (err instanceof CorruptFileError || err instanceof ChecksumMismatchError) {
    io.stderr(`Error: ${err.message}\n`);
    return ExitCode.integrity;
  }
  if (err instanceof ReplicaError || err instanceof LocalFileError) {
    io.stderr(`Error: ${err.message}\n${err.hint ? `Try: ${err.hint}\n` : ""}`);
    return ExitCode.failure;
  }
  if (err instanceof NoRestorePointError) {
    io.stderr(`Error: ${err.message}\n`);
    return ExitCode.failure;
  }
  io.stderr(`Error: ${errorMessage(err)}\n`);
  return ExitCode.failure;
}

/**
 * The CLI's one exit path: runs {@linkcode main}, then waits until stdout and
 * stderr have taken everything written (`io.flush()`), and returns the
 * status to exit with. Output that cannot be written changes the status
 * (docs/CLI.md, "Exit codes"):
 * - stdout's reader closed early (EPIPE, `| head`): no message; 141 when the
 *   command succeeded, else the command's code;
 * - stdout failed otherwise (ENOSPC, EIO …): `Error: Cannot write to stdout: …`
 *   on stderr; 1 when the command succeeded, else the command's code;
 * - stderr failed: nothing to report it on; an EPIPE (the log reader went
 *   away) changes nothing, another error makes a success exit 1.
 */
export async function runAndFlush(args: readonly string[], io: CliIo): Promise<number> {
  const code = await main(args, io);
  try {
    await io.flush();
    return code;
  } catch (err) {
    if (!(err instanceof OutputError)) throw err;
    if (err.stream === "stderr") return err.code === "EPIPE" || code !== ExitCode.ok ? code : ExitCode.failure;
    if (err.code === "EPIPE") return code === ExitCode.ok ? ExitCode.brokenPipe : code;
    io.stderr(`Error: ${err.message}\n`);
    // stdout's error is reported again; what matters is that stderr took the message.
    await io.flush().catch(() => {});
    return code === ExitCode.ok ? ExitCode.failure : code;
  }
}

if (import.meta.main) {
  // process.exit() ends the process at once, dropping what stdout has not
  // yet handed to a pipe: it is called only after runAndFlush (issue #16).
  process.exit(await runAndFlush(process.argv.slice(2), processIo()));
}
