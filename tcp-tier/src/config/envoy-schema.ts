/**
 * Loads Envoy's v3 API schema (the .proto files that ship in @grpc/grpc-js-xds) into a protobufjs Root,
 * once per process. Field names are kept as in the protos (keepCase), so the Root speaks proto names.
 *
 * Which files: every `envoy/**\/v3*\/*.proto` whose imports are all present, plus xDS's and UDPA's
 * TypedStruct. A few v3 files import protos that are not shipped (OpenCensus, OpenTelemetry, Prometheus);
 * those are left out, and their messages are then unknown to the validator, which reports them as
 * unsupported rather than failing. The deprecated v2 API is not loaded: Envoy no longer accepts it.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, sep } from "node:path";
import protobuf from "protobufjs";
import { PROJECT_ROOT } from "../cli/version.ts";

/** Absolute paths of the contrib extension protos Legate carries (each next to its filter). */
const CONTRIB_PROTOS = [
  // From the project root, not this module: in the bundle (bin/bundle.js) this code lives in another folder.
  join(PROJECT_ROOT, "tcp-tier", "src", "extensions", "filters", "network", "postgres_proxy", "postgres_proxy.proto"),
];

export interface EnvoySchema {
  /** All loaded messages and enums, resolved. */
  root: protobuf.Root;
  /** Number of .proto files loaded (entry files and their imports). */
  files: number;
  /** Wall time the first load took, in milliseconds (later calls return the same schema). */
  loadMs: number;
}

let cached: Promise<EnvoySchema> | undefined;

/**
 * The Envoy schema. The first call loads it (a few hundred milliseconds); every later call in the process
 * returns the same promise. A failed load is not cached, so a later call tries again.
 */
export function loadEnvoySchema(): Promise<EnvoySchema> {
  cached ??= load().catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  return cached;
}

function packageDir(require: ReturnType<typeof createRequire>, entry: string, marker: string): string {
  let dir = dirname(require.resolve(entry));
  for (let i = 0; i < 8 && !existsSync(join(dir, marker)); i++) dir = dirname(dir);
  if (!existsSync(join(dir, marker))) throw new Error(`cannot find ${marker} above ${entry}`);
  return dir;
}

function listProtos(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) listProtos(p, out);
    else if (e.name.endsWith(".proto")) out.push(p);
  }
  return out;
}

async function load(): Promise<EnvoySchema> {
  const started = performance.now();
  const require = createRequire(import.meta.url);
  const deps = join(packageDir(require, "@grpc/grpc-js-xds", "deps"), "deps");
  const includeDirs = [
    join(deps, "envoy-api"),
    join(deps, "xds"),
    join(deps, "googleapis"),
    join(deps, "protoc-gen-validate"),
    // descriptor.proto (custom options import it); the other google/protobuf files are built into protobufjs.
    dirname(require.resolve("protobufjs/package.json")),
  ];
  const find = (target: string): string | undefined => {
    for (const d of includeDirs) {
      const p = join(d, target);
      if (existsSync(p)) return p;
    }
    return undefined;
  };

  // Keep only the files whose whole import closure is present.
  const complete = new Map<string, boolean>();
  const closureComplete = (target: string, visiting: Set<string>): boolean => {
    if (target.startsWith("google/protobuf/") && target !== "google/protobuf/descriptor.proto") return true;
    const known = complete.get(target);
    if (known !== undefined) return known;
    if (visiting.has(target)) return true;
    visiting.add(target);
    const file = find(target);
    let ok = file !== undefined;
    if (file) {
      for (const m of readFileSync(file, "utf8").matchAll(/^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;/gm)) {
        if (!closureComplete(m[1]!, visiting)) ok = false;
      }
    }
    complete.set(target, ok);
    return ok;
  };
  const envoyApi = join(deps, "envoy-api");
  const entries = listProtos(join(envoyApi, "envoy"))
    .map((p) => relative(envoyApi, p).split(sep).join("/"))
    .filter((p) => /\/v3[a-z0-9]*\/[^/]+\.proto$/.test(p))
    .concat(["udpa/type/v1/typed_struct.proto", "xds/type/v3/typed_struct.proto"])
    .filter((p) => closureComplete(p, new Set()))
    .sort()
    // Contrib extensions Legate implements: Envoy ships their protos outside the API package above.
    .concat(CONTRIB_PROTOS);

  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => find(target) ?? target;
  await root.load(entries, { keepCase: true });
  root.resolveAll();
  return { root, files: root.files.length, loadMs: Math.round(performance.now() - started) };
}
