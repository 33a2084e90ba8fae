/**
 * Node's builtin modules that only some configs use, loaded on first use, so an idle tcp tier does not
 * pay for what its config does not need (docs/tcp-tier.md "Memory").
 *
 * - An ES module `import` of a builtin builds its namespace, which reads every export, and some exports
 *   are getters that load more of Node: `import http from "node:http"` reads `http.WebSocket` & co., which
 *   load undici. Measured in Node 24.9: an idle process importing `node:http` that way is 58 MiB RSS, one
 *   that `require`s it 48 MiB (a bare process 45). `require` reads only what the code uses.
 * - `tls`, `crypto`, `http` and `zlib` together are about 4 MiB more RSS once loaded, and `http2` about 8,
 *   while a plain TCP config uses none of them: TLS contexts, the admin port, HTTP and gRPC health checks,
 *   the admin token check and mongo_proxy's decompression load theirs when they first run.
 */
import { createRequire } from "node:module";
import type * as Crypto from "node:crypto";
import type * as Http from "node:http";
import type * as Http2 from "node:http2";
import type * as Tls from "node:tls";
import type * as Zlib from "node:zlib";

const require = createRequire(import.meta.url);

function lazy<T>(name: string): () => T {
  let m: T | undefined;
  return () => (m ??= require(name) as T);
}

/** `node:http`, loaded on first call. */
export const http: () => typeof Http = lazy("node:http");
/** `node:http2`, loaded on first call. */
export const http2: () => typeof Http2 = lazy("node:http2");
/** `node:tls`, loaded on first call. */
export const tls: () => typeof Tls = lazy("node:tls");
/** `node:crypto`, loaded on first call. */
export const crypto: () => typeof Crypto = lazy("node:crypto");
/** `node:zlib`, loaded on first call. */
export const zlib: () => typeof Zlib = lazy("node:zlib");
