/** Envoy bootstraps for the CLI tests, written to temp files. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TcpConfigPorts {
  admin: number;
  listener: number;
  upstream: number;
}

/** An Envoy v3 bootstrap: admin on `admin`, a tcp_proxy listener on `listener` to a cluster at `upstream`. */
export function tcpProxyYaml(p: TcpConfigPorts, opts: { cluster?: string; withCluster?: boolean } = {}): string {
  const cluster = opts.cluster ?? "echo";
  const clusters =
    opts.withCluster === false
      ? ""
      : `
  clusters:
  - name: ${cluster}
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: ${cluster}
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: ${p.upstream} }
`;
  return `admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: ${p.admin} }
static_resources:
  listeners:
  - name: listener_0
    address:
      socket_address: { address: 127.0.0.1, port_value: ${p.listener} }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: echo_tcp
          cluster: ${cluster}
${clusters}`;
}

/** The `clusters` section alone, as a --config-yaml merge supplies it. */
export function clusterYaml(name: string, upstream: number): string {
  return `static_resources:
  clusters:
  - name: ${name}
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: ${upstream} }
`;
}

/** Two errors of different kinds: an unknown field (not Envoy) and a route to an undefined cluster (invalid reference). */
export function badYaml(p: TcpConfigPorts): string {
  return tcpProxyYaml(p, { cluster: "nowhere", withCluster: false }).replace("stat_prefix: echo_tcp", "stat_prefix: echo_tcp\n          no_such_field: 1");
}

export function writeConfig(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
