/** `envoy.config.core.v3.Address` with a `socket_address` (the only kind Legate supports). */
import { joinPath } from "./issues.ts";
import type { SocketAddressModel } from "./model.ts";
import type { Reader } from "./reader.ts";

export function compileAddress(r: Reader, v: unknown, path: string): SocketAddressModel | undefined {
  const a = r.obj(v, path);
  if (!a) return undefined;
  const sap = joinPath(path, "socket_address");
  if (a.socket_address === undefined && r.alternative(a, path, { pipe: "Unix domain sockets", envoy_internal_address: "internal addresses" })) return undefined;
  const sa = r.required(r.obj(a.socket_address, sap), sap, "socket_address");
  if (!sa) return undefined;
  const address = r.required(r.str(sa.address, joinPath(sap, "address")), joinPath(sap, "address"), "address");
  const port = r.uint(sa.port_value, joinPath(sap, "port_value"), 65535) ?? 0;
  const protocol = r.enumOf(sa.protocol, joinPath(sap, "protocol"), ["TCP", "UDP"] as const, "TCP");
  return address === undefined ? undefined : { address, port, protocol };
}
