/**
 * MQTT broker URLs, shared by the device config and the operator commands.
 *
 * @module
 */

/** Whether `url` is an `mqtt://`, `mqtts://`, `ws://` or `wss://` URL with a host. */
export function isBrokerUrl(url: string): boolean {
  return /^(mqtts?|wss?):\/\/[^/]/.test(url);
}

/** `url` with any user info replaced by `***` (never log credentials). */
export function redactBrokerUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}
