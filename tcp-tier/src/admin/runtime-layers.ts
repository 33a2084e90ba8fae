/**
 * The runtime as the admin port shows it (`/runtime`) and changes it (`/runtime_modify`): the config's
 * `layered_runtime` layers by name, plus Envoy's admin layer when there is one.
 *
 * Envoy without `layered_runtime` runs a static layer `base` (empty) and an admin layer `admin`, so
 * `/runtime_modify` works out of the box; a config with explicit layers has no admin layer (Legate does
 * not support `admin_layer` entries yet) and `/runtime_modify` then answers 503, as Envoy does without one.
 *
 * With `--concurrency N` (N > 1) the primary owns the layers that change at run time (the KV layer and
 * the admin layer): {@link RuntimeLayers.onChange} tells it of every change, and it sends
 * {@link RuntimeLayers.dynamicValues} to each worker, which applies them with {@link RuntimeLayers.setDynamic}
 * (tcp-tier/src/workers/). The static layers every process reads from the config itself.
 */

import { createLayeredRuntime, type Runtime, type RuntimeLayer, type RuntimeValue } from "../../../shared/runtime/runtime.ts";

interface Layer {
  name: string;
  admin: boolean;
  values: Map<string, string>;
}

export class RuntimeLayers {
  private layers: Layer[] = [];
  /** Kept across config reloads, as the admin layer lives in the process, not in the config. */
  private readonly adminValues = new Map<string, string>();
  /** The KV layer (tcp-tier/src/kv/), between the static layers and the admin layer, when polled. */
  private readonly kv: RuntimeLayer | undefined;
  /** Index of the last non-admin layer (-1: none), set by load(). */
  private lastStatic = -1;
  /**
   * The runtime every consumer reads: static layers < KV < admin, looked up live, so /runtime_modify,
   * a KV poll and a reload's new static layers are all seen without rebuilding anything.
   */
  readonly live: Runtime;
  /** Called after every change of the KV or admin layer (the primary forwards them to its workers). */
  onChange: (() => void) | undefined;

  constructor(canonical: Record<string, unknown>, kv?: RuntimeLayer) {
    this.kv = kv;
    this.load(canonical);
    this.live = createLayeredRuntime([{ get: (key) => this.lookup(key) }]);
  }

  /** The value of the highest layer holding `key`; the KV layer sits just above the last static layer. */
  private lookup(key: string): RuntimeValue | undefined {
    for (let i = this.layers.length - 1; i >= 0; i--) {
      if (i === this.lastStatic && this.kv) {
        const v = this.kv.get(key);
        if (v !== undefined) return v;
      }
      const v = this.layers[i]!.values.get(key);
      if (v !== undefined) return v;
    }
    return this.lastStatic < 0 ? this.kv?.get(key) : undefined;
  }

  /** (Re)reads the static layers from a config (after a hot reload). */
  load(canonical: Record<string, unknown>): void {
    const lr = canonical.layered_runtime as { layers?: Record<string, unknown>[] } | undefined;
    if (!lr) {
      this.layers = [
        { name: "base", admin: false, values: new Map() },
        { name: "admin", admin: true, values: this.adminValues },
      ];
      this.lastStatic = 0;
      return;
    }
    this.layers = (lr.layers ?? []).map((l) => {
      const values = new Map<string, string>();
      if (l.static_layer && typeof l.static_layer === "object") flatten(l.static_layer as Record<string, unknown>, "", values);
      return { name: String(l.name ?? ""), admin: false, values };
    });
    this.lastStatic = this.layers.findLastIndex((l) => !l.admin);
  }

  get hasAdminLayer(): boolean {
    return this.layers.some((l) => l.admin);
  }

  /** Envoy's `/runtime` JSON: layer names in order, and per key its value in each layer and the winner. */
  render(): { layers: string[]; entries: Record<string, { layer_values: string[]; final_value: string }> } {
    const shown = this.shownLayers();
    const keys = new Set<string>();
    for (const l of shown) for (const k of l.values.keys()) keys.add(k);
    const entries: Record<string, { layer_values: string[]; final_value: string }> = {};
    for (const k of [...keys].sort()) {
      const layerValues = shown.map((l) => l.values.get(k) ?? "");
      let finalValue = "";
      for (const l of shown) if (l.values.has(k)) finalValue = l.values.get(k)!;
      entries[k] = { layer_values: layerValues, final_value: finalValue };
    }
    return { layers: shown.map((l) => l.name), entries };
  }

  /** The layers in order, with the KV layer (named `kv`) after the static layers, before `admin`. */
  private shownLayers(): { name: string; values: ReadonlyMap<string, string> }[] {
    if (!this.kv) return this.layers;
    const kv = { name: this.kv.name, values: new Map([...this.kv.values].map(([k, v]) => [k, String(v)])) };
    const at = this.lastStatic + 1;
    return [...this.layers.slice(0, at), kv, ...this.layers.slice(at)];
  }

  /** Sets keys in the admin layer; an empty value removes the key (Envoy's rule). False without an admin layer. */
  modify(values: Iterable<[string, string]>): boolean {
    if (!this.hasAdminLayer) return false;
    for (const [k, v] of values) {
      if (v === "") this.adminValues.delete(k);
      else this.adminValues.set(k, v);
    }
    this.onChange?.();
    return true;
  }

  /** The KV layer's values changed (kv/runtime-poller.ts): tells {@link onChange}. */
  kvChanged(): void {
    this.onChange?.();
  }

  /** The layers that change at run time, as JSON-friendly entries: the KV layer's and the admin layer's. */
  dynamicValues(): { kv: [string, RuntimeValue][]; admin: [string, string][] } {
    return { kv: this.kv ? [...this.kv.values] : [], admin: [...this.adminValues] };
  }

  /**
   * A worker's copy of the primary's {@link dynamicValues}: replaces the admin values and, when this
   * instance has a KV layer, the KV values.
   */
  setDynamic(values: { kv: [string, RuntimeValue][]; admin: [string, string][] }): void {
    if (this.kv) this.kv.replace(new Map(values.kv));
    this.adminValues.clear();
    for (const [k, v] of values.admin) this.adminValues.set(k, v);
  }
}

function flatten(o: Record<string, unknown>, prefix: string, out: Map<string, string>): void {
  for (const [k, v] of Object.entries(o)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) flatten(v as Record<string, unknown>, key, out);
    else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out.set(key, String(v));
  }
}
