/**
 * Type of the lz4 wasm binary imported as a file asset
 * (`with { type: "file" }`): Bun hands back its path, which points into the
 * executable's embedded file system in a `bun build --compile` binary.
 */
declare module "lz4-wasm-nodejs/lz4_wasm_nodejs_bg.wasm" {
  const path: string;
  export default path;
}
