/**
 * Bench configs go through the real pipeline, never a shortcut: Envoy JSON → the Node loader
 * (schema walk against Envoy's protos, canonical JSON, compileBootstrap) → for the edge, `legate
 * push`'s protocol (tcp-tier/src/cli/push.ts) into local KV state that miniflare then serves.
 */
import { formatIssue } from "../../shared/config/issues.ts";
import type { BootstrapModel } from "../../shared/config/model.ts";
import { applyPlan, planPush } from "../../tcp-tier/src/cli/push.ts";
import { localKvTarget } from "../../tcp-tier/src/cli/kv/local.ts";
import { validateBootstrapValue } from "../../tcp-tier/src/config/load.ts";

export interface LoadedConfig {
  /** What `legate push` stores (and the edge compiles). */
  canonical: Record<string, unknown>;
  model: BootstrapModel;
}

/** Validates and compiles an Envoy bootstrap (JSON values) as `legate --mode validate` does. Throws with every issue. */
export async function loadConfig(bootstrap: unknown, what: string): Promise<LoadedConfig> {
  const result = await validateBootstrapValue(bootstrap);
  if (!result.ok) throw new Error(`${what} is refused by the loader:\n${result.issues.map((i) => `  ${formatIssue(i)}`).join("\n")}`);
  return { canonical: result.canonical, model: result.model };
}

/**
 * Pushes a validated config to local KV state (`<persistTo>/v3`, namespace `namespaceId`), as
 * `legate push --local` does. Returns the version.
 */
export async function pushToLocalKv(config: LoadedConfig, persistTo: string, namespaceId: string): Promise<string> {
  const target = localKvTarget({ persistTo, namespaceId });
  try {
    const plan = await planPush(target, config.canonical, "bench");
    await applyPlan(target, plan);
    return plan.version;
  } finally {
    await target.close();
  }
}
