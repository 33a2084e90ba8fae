/**
 * `legate/endpoints/<service name>`: the endpoints of one `type: EDS` cluster, written by
 * `legate endpoints` and read by both tiers (docs/kv-layout.md, "Endpoints"). The value is JSON
 * {@link EndpointsDocument}: Envoy's ClusterLoadAssignment in canonical JSON (proto field names, as the
 * CLI's schema walk returns it) with a version that goes up by one on every write, so readers skip a
 * document they already applied. One key per service, one writer at a time (the operator's CLI), at
 * most one write per second (KV's per-key limit, kept by the CLI).
 */
import { compileLoadAssignment, compileOverprovisioning } from "../config/compile-cluster.ts";
import { formatIssue, isError } from "../config/issues.ts";
import type { EndpointModel } from "../config/model.ts";
import { Reader } from "../config/reader.ts";
import { KV_PREFIX } from "./layout.ts";

export const ENDPOINTS_PREFIX = `${KV_PREFIX}endpoints/`;

/** The key of an EDS service's assignment (the service name URL-encoded, as health keys are). */
export function endpointsKey(serviceName: string): string {
  return `${ENDPOINTS_PREFIX}${encodeURIComponent(serviceName)}`;
}

export interface EndpointsDocument {
  /** Increases by one on every write. */
  version: number;
  /** ISO 8601 time of the last write. */
  updated_at: string;
  /** Envoy's `envoy.config.endpoint.v3.ClusterLoadAssignment`, canonical JSON; `cluster_name` is the service name. */
  cluster_load_assignment: Record<string, unknown>;
}

export type ParsedEndpoints =
  | {
      ok: true;
      document: EndpointsDocument;
      endpoints: EndpointModel[];
      /** `policy.overprovisioning_factor` / 100, when the assignment sets it (else the cluster's own). */
      overprovisioningFactor?: number;
    }
  | { ok: false; error: string };

/**
 * Parses and compiles a stored document for `serviceName`. Readers apply only a document that parses
 * whole; anything else keeps what they had (fail closed, as for configs).
 */
export function parseEndpointsDocument(text: string, serviceName: string): ParsedEndpoints {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `not JSON: ${String(e)}` };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return { ok: false, error: "not a JSON object" };
  const { version, updated_at: updatedAt, cluster_load_assignment: cla } = v as Record<string, unknown>;
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 0) return { ok: false, error: "`version` is not a non-negative integer" };
  if (typeof cla !== "object" || cla === null || Array.isArray(cla)) return { ok: false, error: "`cluster_load_assignment` is not an object" };
  const assignment = cla as Record<string, unknown>;
  const problem = checkAssignmentShape(assignment, serviceName);
  if (problem) return { ok: false, error: problem };
  const r = new Reader();
  const endpoints = compileLoadAssignment(r, assignment, "cluster_load_assignment");
  const overprovisioningFactor = compileOverprovisioning(r, assignment.policy, "cluster_load_assignment.policy");
  const errors = r.issues.filter(isError);
  if (errors.length) return { ok: false, error: errors.slice(0, 5).map(formatIssue).join("; ") };
  const document = { version, updated_at: typeof updatedAt === "string" ? updatedAt : "", cluster_load_assignment: assignment };
  return { ok: true, document, endpoints, ...(overprovisioningFactor !== undefined ? { overprovisioningFactor } : {}) };
}

/**
 * What Legate's EDS documents may not hold beyond the schema: a `cluster_name` other than the service
 * name. Undefined when fine. The CLI runs this before writing, and readers again.
 */
export function checkAssignmentShape(assignment: Record<string, unknown>, serviceName: string): string | undefined {
  const name = assignment.cluster_name;
  if (name !== undefined && name !== serviceName) {
    return `cluster_load_assignment.cluster_name is ${JSON.stringify(name)}, expected the EDS service name ${JSON.stringify(serviceName)}`;
  }
  return undefined;
}
