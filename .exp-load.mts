import protobuf from "protobufjs";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
const deps = "/work/main/node_modules/@grpc/grpc-js-xds/deps";
const roots = ["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) => join(deps, d));
function walk(dir: string, out: string[]) { for (const e of readdirSync(dir)) { const p = join(dir, e); if (statSync(p).isDirectory()) walk(p, out); else if (p.endsWith(".proto")) out.push(p); } }
const files: string[] = [];
walk(join(deps, "envoy-api/envoy"), files);
const t0 = performance.now();
const root = new protobuf.Root();
root.resolvePath = (origin, target) => {
  for (const r of roots) { try { const p = join(r, target); statSync(p); return p; } catch {} }
  return target;
};
await root.load(files.map(f => f.slice(join(deps, "envoy-api").length + 1)), { keepCase: true });
root.resolveAll();
console.log("files", files.length, root.files.length, (performance.now() - t0).toFixed(0), "ms");
const L = root.lookupType("envoy.config.listener.v3.Listener");
const f = L.fields["name"]; console.log(f.name, f.type, f.jsonName, (f as any).json_name);
const addr = L.fields["address"]!; console.log(addr.options, addr.parsedOptions);
const C = root.lookupType("envoy.config.cluster.v3.Cluster");
console.log(JSON.stringify(C.fields["connect_timeout"]!.options), JSON.stringify(C.fields["connect_timeout"]!.parsedOptions));
console.log(JSON.stringify(C.fields["name"]!.options), JSON.stringify(C.fields["name"]!.parsedOptions));
console.log(JSON.stringify(C.fields["type"]!.options), C.fields["type"]!.partOf?.name, JSON.stringify(C.oneofs["cluster_discovery_type"]?.options));
const SA = root.lookupType("envoy.config.core.v3.SocketAddress");
console.log(JSON.stringify(SA.fields["port_value"]!.options), JSON.stringify(SA.fields["port_value"]!.parsedOptions), JSON.stringify(SA.oneofs), JSON.stringify(SA.options), JSON.stringify(SA.parsedOptions));
const B = root.lookupType("envoy.config.bootstrap.v3.Bootstrap"); console.log(Object.keys(B.fields).length);
