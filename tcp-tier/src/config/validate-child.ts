/**
 * The entry of the short-lived process that validates a config for a serving tcp tier
 * (tcp-tier/src/config/load-isolated.ts): it gets one request over IPC, runs the whole pipeline with
 * Envoy's schema (tcp-tier/src/config/load.ts), sends the canonical config or the issues back, and exits.
 */
import { loadBootstrap, type LoadResult, validateBootstrapValue } from "./load.ts";
import type { ChildAnswer, ChildRequest } from "./load-isolated.ts";

async function answer(req: ChildRequest): Promise<ChildAnswer> {
  let r: LoadResult;
  try {
    r = req.kind === "value"
      ? await validateBootstrapValue(req.value, req.options)
      : await loadBootstrap(req.options);
  } catch (e) {
    return { ok: false, issues: [{ kind: "not-envoy", path: "", message: `cannot load the configuration: ${(e as Error).message}` }] };
  }
  return r.ok ? { ok: true, canonical: r.canonical, warnings: r.warnings } : { ok: false, issues: r.issues };
}

process.once("message", (req: ChildRequest) => {
  void answer(req).then((a) => process.send!(a, () => process.disconnect()));
});
