/**
 * A small structured logger: one line per record, text (`key=value`) or JSON,
 * with fixed field names (`db`, `replica`, `txid`, `level`, `err`, `backoff`).
 * No global state: the CLI creates one and hands children to components.
 *
 * @module
 */

/** Severity, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";
/** Output format. */
export type LogFormat = "text" | "json";
/** Structured fields attached to a record. */
export type LogFields = Record<string, string | number | bigint | boolean | undefined>;

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A logger with bound fields. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A child logger that adds `fields` to every record. */
  with(fields: LogFields): Logger;
}

/** Where records go; the CLI passes `process.stderr.write`. */
export type LogSink = (line: string) => void;

/** Creates a logger. */
export function createLogger(options: { level: LogLevel; format: LogFormat; sink: LogSink; now?: () => Date }): Logger {
  const now = options.now ?? (() => new Date());
  function make(bound: LogFields): Logger {
    function emit(level: LogLevel, msg: string, fields: LogFields | undefined): void {
      if (ORDER[level] < ORDER[options.level]) return;
      const all: LogFields = { ...bound, ...fields };
      options.sink(options.format === "json" ? formatJson(now(), level, msg, all) : formatText(now(), level, msg, all));
    }
    return {
      debug: (m, f) => emit("debug", m, f),
      info: (m, f) => emit("info", m, f),
      warn: (m, f) => emit("warn", m, f),
      error: (m, f) => emit("error", m, f),
      with: (f) => make({ ...bound, ...f }),
    };
  }
  return make({});
}

/** A logger that drops everything (tests, library callers). */
export function nullLogger(): Logger {
  return createLogger({ level: "error", format: "text", sink: () => {} }).with({});
}

function formatText(time: Date, level: LogLevel, msg: string, fields: LogFields): string {
  let line = `${time.toISOString()} ${level.toUpperCase()} ${msg}`;
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    const s = String(v);
    line += ` ${k}=${/[\s"=]/.test(s) ? JSON.stringify(s) : s}`;
  }
  return `${line}\n`;
}

function formatJson(time: Date, level: LogLevel, msg: string, fields: LogFields): string {
  const rec: Record<string, unknown> = { time: time.toISOString(), level, msg };
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) rec[k] = typeof v === "bigint" ? v.toString() : v;
  }
  return `${JSON.stringify(rec)}\n`;
}
