/**
 * The MQTT topic tree (docs/FLEET.md). Everything a device publishes or
 * reads sits under `<root>/<device>/`, so one broker ACL pattern
 * (`pattern readwrite litefleet/v1/%c/#`) confines each device:
 *
 * | topic | direction | QoS | retained |
 * |---|---|---|---|
 * | `<root>/<device>/status` | device → fleet | 1 | yes (Last Will: offline) |
 * | `<root>/<device>/tele`   | device → fleet | 0 | yes (the whole status object) |
 * | `<root>/<device>/evt`    | device → fleet | 1 | no |
 * | `<root>/<device>/cmd`    | operator → device | 1 | no |
 * | `<root>/<device>/res/<x>`| device → operator | 1 | no |
 *
 * @module
 */

/** Default topic root. */
export const DEFAULT_TOPIC_ROOT = "litefleet/v1";

/** A device id or topic root segment that is safe in a topic: no wildcards, no `/` in ids, no NUL. */
const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Checks that `id` can be one topic level.
 * @throws {RangeError} naming the id when it cannot
 */
export function checkTopicId(id: string, what: string): void {
  if (!ID_RE.test(id)) {
    throw new RangeError(`Cannot use ${what} '${id}' in MQTT topics: use 1-128 of A-Z a-z 0-9 . _ : -`);
  }
}

/**
 * Checks a topic root: one or more levels without wildcards.
 * @throws {RangeError} when it is empty, has wildcards, or empty levels
 */
export function checkTopicRoot(root: string): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what it rejects (MQTT forbids it in topics)
  if (root === "" || /[#+\u0000]/.test(root) || root.split("/").some((l) => l === "")) {
    throw new RangeError(
      `Cannot use MQTT topic root '${root}': it needs one or more non-empty levels without '+', '#' or NUL`,
    );
  }
}

/** The topics of one device. */
export interface DeviceTopics {
  readonly status: string;
  readonly tele: string;
  readonly evt: string;
  readonly cmd: string;
  /** Prefix of reply topics: `<root>/<device>/res/`. */
  readonly resPrefix: string;
}

/** The topics of `device` under `root`. */
export function deviceTopics(root: string, device: string): DeviceTopics {
  const base = `${root}/${device}`;
  return {
    status: `${base}/status`,
    tele: `${base}/tele`,
    evt: `${base}/evt`,
    cmd: `${base}/cmd`,
    resPrefix: `${base}/res/`,
  };
}

/** Subscriptions the operator side uses to watch every device. */
export function fleetFilters(root: string): { status: string; evt: string } {
  return { status: `${root}/+/status`, evt: `${root}/+/evt` };
}

/** The device id in a `<root>/<device>/<kind>` topic, or undefined when the topic is not one. */
export function deviceOfTopic(root: string, topic: string): string | undefined {
  if (!topic.startsWith(`${root}/`)) return undefined;
  const rest = topic.slice(root.length + 1).split("/");
  return rest.length >= 2 && rest[0] !== undefined && ID_RE.test(rest[0]) ? rest[0] : undefined;
}
