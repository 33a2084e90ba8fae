/**
 * Where the CLI's config comes from (`-c`, `--config-yaml`, the edge listener), as the loader's options.
 * Shared by the in-process loader (validate.ts: `--mode validate`, push) and the serving tier's isolated
 * one (serve.ts), and free of the loader itself, so `serve` does not import Envoy's schema through it.
 */
import { resolve } from "node:path";
import type { LoadOptions } from "../config/load.ts";

export interface ConfigSource {
  configPath?: string;
  configYaml?: string;
  edgeListener?: string;
}

/** The loader's options for `src`, with paths resolved against the CLI's working directory. */
export function loadOptionsFor(src: ConfigSource, cwd: string): LoadOptions {
  return {
    ...(src.configPath !== undefined ? { path: resolve(cwd, src.configPath) } : {}),
    ...(src.configYaml !== undefined ? { configYaml: src.configYaml } : {}),
    ...(src.edgeListener !== undefined ? { edgeListener: src.edgeListener } : {}),
    baseDir: cwd,
  };
}
