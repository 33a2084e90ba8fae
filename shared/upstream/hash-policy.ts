/**
 * Envoy's route `hash_policy` evaluation: the 64-bit request hash that RING_HASH and MAGLEV clusters
 * place a request by. The router calls {@link computeHashKey} once per request (not per attempt) and
 * passes the result as `hashKey` to `ClusterRuntime.chooseHost`.
 *
 * Each policy yields xxHash64 of its value, or nothing when the value is absent:
 * - `header`: the header's value (several values of one header, which fetch's Headers joins with
 *   ", ", are hashed as that joined string);
 * - `cookie`: the named cookie's value from the `cookie` header (surrounding double quotes removed; an
 *   empty value counts as absent, as in Envoy). With `ttl` (`generate`), an absent cookie is generated
 *   as Envoy does: its value is the 16 hex digits of xxHash64 of the downstream connection's remote and
 *   local addresses (so one connection gets one value), that value is hashed, and a `Set-Cookie`
 *   (`name="value"`, `Max-Age` unless the ttl is 0, `Path`, the attributes, `HttpOnly`) is collected
 *   in {@link HashRequest.setCookies} for the router to add to the response;
 * - `source_ip`: the downstream client's IP address as text (no port);
 * - `query_parameter`: the first value of the named parameter, as it appears in the path (not decoded).
 * Hashes combine in order as Envoy combines them (`hash = rotl(hash, 1) ^ next`); a `terminal` policy
 * that produced a hash stops the evaluation. No hash at all: the balancer picks at random.
 */
import type { HashPolicyModel } from "../config/model.ts";
import { xxHash64 } from "../lb/xxhash64.ts";

const MASK = (1n << 64n) - 1n;

/** What the hash policies read from a request. */
export interface HashRequest {
  headers: Headers;
  /** The request path with its query string (`:path`). */
  path: string;
  /** The downstream client's IP (at the edge, `CF-Connecting-IP`), when known. */
  sourceIp?: string;
  /** The downstream connection's remote and local addresses as text: the seed of generated cookies. */
  connectionKey?: string;
  /** Where generated cookies' `Set-Cookie` values go; absent: cookies are not generated. */
  setCookies?: string[];
}

/** The request's hash, or undefined when no policy produced one. */
export function computeHashKey(policies: readonly HashPolicyModel[] | undefined, request: HashRequest): bigint | undefined {
  if (!policies || policies.length === 0) return undefined;
  let hash: bigint | undefined;
  for (const policy of policies) {
    const value = policyValue(policy, request);
    if (value !== undefined) {
      const next = xxHash64(value);
      hash = hash === undefined ? next : (((hash << 1n) | (hash >> 63n)) & MASK) ^ next;
    }
    if (policy.terminal && hash !== undefined) break;
  }
  return hash;
}

function policyValue(policy: HashPolicyModel, request: HashRequest): string | undefined {
  switch (policy.kind) {
    case "header":
      return request.headers.get(policy.headerName) ?? undefined;
    case "cookie": {
      const value = cookieValue(request.headers.get("cookie"), policy.name);
      if (value) return value;
      const gen = policy.generate;
      if (!gen || !request.setCookies) return undefined;
      const generated = xxHash64(request.connectionKey ?? "").toString(16).padStart(16, "0");
      request.setCookies.push(setCookieValue(policy.name, generated, gen.path, gen.ttlSeconds, gen.attributes));
      return generated;
    }
    case "source_ip":
      return request.sourceIp || undefined;
    case "query_parameter":
      return queryValue(request.path, policy.name);
  }
}

/** Envoy's makeSetCookieValue, always HttpOnly: `name="value"; Max-Age=N; Path=p; attrs; HttpOnly`. */
export function setCookieValue(name: string, value: string, path: string, maxAgeSeconds: number, attributes: readonly { name: string; value: string }[]): string {
  let out = `${name}="${value}"`;
  if (maxAgeSeconds !== 0) out += `; Max-Age=${maxAgeSeconds}`;
  if (path) out += `; Path=${path}`;
  for (const a of attributes) out += a.value ? `; ${a.name}=${a.value}` : `; ${a.name}`;
  return `${out}; HttpOnly`;
}

/** The value of cookie `name` in a Cookie header, without surrounding quotes. */
export function cookieValue(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let v = part.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    return v;
  }
  return undefined;
}

/** The first raw value of query parameter `name` in a path (`?a=1&b=2`); "" for a bare `?a`. */
export function queryValue(path: string, name: string): string | undefined {
  const q = path.indexOf("?");
  if (q < 0) return undefined;
  const hashAt = path.indexOf("#", q);
  const query = path.slice(q + 1, hashAt < 0 ? undefined : hashAt);
  for (const pair of query.split("&")) {
    const eq = pair.indexOf("=");
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (key === name) return eq < 0 ? "" : pair.slice(eq + 1);
  }
  return undefined;
}
