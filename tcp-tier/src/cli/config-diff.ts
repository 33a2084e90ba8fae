/**
 * A short, operator-facing summary of what changes between two canonical bootstraps: listeners and
 * clusters by name, routes by listener / virtual host / route, and any other section that differs.
 * Used by `legate push` (and `--dry-run`) and `legate rollback`.
 */
import { canonicalJson } from "../../../shared/kv/layout.ts";

export interface SectionDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

export interface ConfigDiff {
  listeners: SectionDiff;
  clusters: SectionDiff;
  routes: SectionDiff;
  /** Other sections, as paths (`admin`, `layered_runtime`, `static_resources.secrets`...). */
  other: SectionDiff;
}

type Obj = Record<string, unknown>;

function asObj(v: unknown): Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {};
}

function asArr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** Keys items by `name` (or position when unnamed), suffixing duplicates so none is lost. */
function byName(items: unknown[], label: (item: Obj, i: number) => string): Map<string, string> {
  const out = new Map<string, string>();
  items.forEach((item, i) => {
    let key = label(asObj(item), i);
    for (let n = 2; out.has(key); n++) key = `${label(asObj(item), i)}#${n}`;
    out.set(key, canonicalJson(item));
  });
  return out;
}

function diffMaps(a: Map<string, string>, b: Map<string, string>): SectionDiff {
  const d: SectionDiff = { added: [], removed: [], changed: [] };
  for (const [k, v] of b) {
    if (!a.has(k)) d.added.push(k);
    else if (a.get(k) !== v) d.changed.push(k);
  }
  for (const k of a.keys()) if (!b.has(k)) d.removed.push(k);
  return d;
}

function routeMatchLabel(match: Obj): string {
  for (const k of ["prefix", "path", "path_separated_prefix"]) {
    if (typeof match[k] === "string") return `${k} ${match[k] as string}`;
  }
  const re = asObj(match.safe_regex).regex;
  if (typeof re === "string") return `regex ${re}`;
  return canonicalJson(match);
}

/** Every route of every http_connection_manager with an inline route_config, keyed by where it is. */
function routes(config: Obj): Map<string, string> {
  const all: unknown[] = [];
  const labels: string[] = [];
  asArr(asObj(config.static_resources).listeners).forEach((l, li) => {
    const listener = asObj(l);
    const lname = typeof listener.name === "string" ? listener.name : `listeners[${li}]`;
    const chains = [...asArr(listener.filter_chains), ...(listener.default_filter_chain ? [listener.default_filter_chain] : [])];
    for (const chain of chains) {
      for (const f of asArr(asObj(chain).filters)) {
        const rc = asObj(asObj(asObj(f).typed_config).route_config);
        asArr(rc.virtual_hosts).forEach((v, vi) => {
          const vh = asObj(v);
          const vname = typeof vh.name === "string" ? vh.name : `virtual_hosts[${vi}]`;
          for (const r of asArr(vh.routes)) {
            const route = asObj(r);
            all.push(route);
            labels.push(`${lname}/${vname}/${typeof route.name === "string" && route.name ? route.name : routeMatchLabel(asObj(route.match))}`);
          }
        });
      }
    }
  });
  return byName(all, (_r, i) => labels[i]!);
}

/** Compares two canonical bootstraps; `before` undefined means "nothing pushed yet" (everything added). */
export function diffConfigs(before: unknown, after: unknown): ConfigDiff {
  const a = asObj(before);
  const b = asObj(after);
  const sa = asObj(a.static_resources);
  const sb = asObj(b.static_resources);
  const named = (item: Obj, i: number): string => (typeof item.name === "string" ? item.name : `#${i}`);
  const sections = (o: Obj, s: Obj): Map<string, string> => {
    const m = new Map<string, string>();
    for (const k of Object.keys(o)) if (k !== "static_resources") m.set(k, canonicalJson(o[k]));
    for (const k of Object.keys(s)) if (k !== "listeners" && k !== "clusters") m.set(`static_resources.${k}`, canonicalJson(s[k]));
    return m;
  };
  return {
    listeners: diffMaps(byName(asArr(sa.listeners), named), byName(asArr(sb.listeners), named)),
    clusters: diffMaps(byName(asArr(sa.clusters), named), byName(asArr(sb.clusters), named)),
    routes: diffMaps(routes(a), routes(b)),
    other: diffMaps(sections(a, sa), sections(b, sb)),
  };
}

/** One line per section that changed: `listeners: +new_one ~listener_0 -old_one`. Empty when nothing differs. */
export function formatDiff(d: ConfigDiff): string[] {
  const lines: string[] = [];
  const section = (name: string, s: SectionDiff): void => {
    const parts = [...s.added.map((n) => `+${n}`), ...s.changed.map((n) => `~${n}`), ...s.removed.map((n) => `-${n}`)];
    if (parts.length) lines.push(`${name}: ${parts.join(" ")}`);
  };
  section("listeners", d.listeners);
  section("clusters", d.clusters);
  section("routes", d.routes);
  section("other", d.other);
  return lines;
}
