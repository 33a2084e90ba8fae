/**
 * WebSocket upgrades in the HTTP engine (HCM `upgrade_configs`, route `upgrade_configs`).
 *
 * The decision is Envoy's: an upgrade request whose type the HCM lists (and, when the matched route
 * lists it too, whose route enables it) goes through the filter chain and the router like any request;
 * otherwise, when a route matched, it is answered 403 with details `upgrade_failed` and counted in
 * `downstream_rq_ws_on_non_ws_route`.
 *
 * Proxying is message by message, because a Worker cannot splice raw bytes: the tier's
 * {@link WebSocketSupport} turns the upstream's 101 response into a socket and accepts the downstream
 * side; {@link pumpWebSocket} forwards messages both ways and propagates close. The router stays
 * unaware: the engine marks the upgrade stream with a private request header that
 * {@link upgradingTransport} (wrapped around the tier's transport once per config) turns back into the
 * upgrade handshake, so the router's host selection, stats and error mapping apply unchanged.
 */
import type { UpgradeConfigModel } from "../config/model.ts";
import { ProxyError } from "./errors.ts";
import type { UpstreamRequest, UpstreamTransport } from "./upstream-transport.ts";

/** One end of a WebSocket as both runtimes expose it (the WHATWG shape; workerd's WebSocket fits). */
export interface MessageSocket {
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  addEventListener(type: "close", listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: "error", listener: (event: unknown) => void): void;
}

/** What a tier provides to proxy WebSockets (the edge: WebSocketPair and fetch's `response.webSocket`). */
export interface WebSocketSupport {
  /**
   * Called once per 101 response from the upstream: its socket, accepted and ready to pump, or
   * undefined when the response carries none.
   */
  upstreamSocket(response: Response): MessageSocket | undefined;
  /**
   * Called once per proxied upgrade, after the upstream accepted: the downstream end to pump (accepted),
   * and `respond`, which makes the 101 response handed back to the runtime from the final head.
   */
  accept(): { socket: MessageSocket; respond(head: { status: number; statusText: string; headers: Headers }): Response };
}

/** Private request header naming an upgrade stream between the engine and {@link upgradingTransport}. */
export const UPGRADE_STREAM_HEADER = "x-legate-upgrade-stream";

/**
 * The upgrade type of a request (lower-cased Upgrade header), or undefined. The Connection header is not
 * required: the Workers runtime does not always hand it to the Worker.
 */
export function upgradeType(headers: Headers): string | undefined {
  const v = headers.get("upgrade");
  return v === null || v === "" ? undefined : v.toLowerCase();
}

/**
 * Envoy's rule: the HCM must list the type; a route that lists it decides (`enabled`), otherwise the
 * HCM's `enabled` does.
 */
export function upgradeAllowed(hcm: readonly UpgradeConfigModel[] | undefined, route: readonly UpgradeConfigModel[] | undefined, type: string): boolean {
  const base = hcm?.find((u) => u.upgradeType === type);
  if (!base) return false;
  const override = route?.find((u) => u.upgradeType === type);
  return override ? override.enabled : base.enabled;
}

/** Per-stream state of an upgrade between the engine and the transport wrapper. */
export interface UpgradeSlot {
  readonly type: string;
  /** Set by the transport wrapper when the upstream answered 101. */
  upstream?: MessageSocket;
}

/**
 * Wraps the tier's transport so an attempt marked with {@link UPGRADE_STREAM_HEADER} is sent as the
 * upgrade handshake (the router dropped Upgrade/Connection as hop-by-hop), and a 101 answer leaves its
 * socket in the stream's slot. Unmarked attempts pass straight through.
 */
export function upgradingTransport(inner: UpstreamTransport, support: WebSocketSupport, slots: Map<string, UpgradeSlot>): UpstreamTransport {
  return {
    async fetch(req: UpstreamRequest): Promise<Response> {
      const id = req.headers.get(UPGRADE_STREAM_HEADER);
      if (id === null) return inner.fetch(req);
      req.headers.delete(UPGRADE_STREAM_HEADER);
      const slot = slots.get(id);
      if (!slot) return inner.fetch(req);
      req.headers.set("upgrade", slot.type);
      req.headers.set("connection", "Upgrade");
      const res = await inner.fetch(req);
      if (res.status !== 101) return res;
      const socket = support.upstreamSocket(res);
      if (!socket) throw new ProxyError("upstream_connection_termination", `${req.url}: 101 response without a WebSocket`);
      // A second 101 for the same stream (a raced attempt) is not needed: close it.
      if (slot.upstream) closeQuietly(socket, 1001, "duplicate upstream");
      else slot.upstream = socket;
      return res;
    },
  };
}

/** Close codes that may be sent in a close frame (RFC 6455 7.4). */
function sendable(code: number): boolean {
  return code === 1000 || (code >= 1001 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

function closeQuietly(socket: MessageSocket, code?: number, reason?: string): void {
  try {
    if (code === undefined) socket.close();
    else socket.close(code, reason);
  } catch {
    // Already closed or closing: nothing left to tell it.
  }
}

/** UTF-8 length of a string without encoding it. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function sizeOf(data: unknown): number {
  if (typeof data === "string") return utf8Length(data);
  if (data instanceof ArrayBuffer) return data.byteLength;
  if (ArrayBuffer.isView(data)) return data.byteLength;
  if (typeof Blob !== "undefined" && data instanceof Blob) return data.size;
  return 0;
}

export interface PumpHooks {
  /** Called per message: `rx` downstream → upstream, `tx` upstream → downstream, with its payload size. */
  onMessage?(direction: "rx" | "tx", bytes: number): void;
  /** Called once, when either side closed or failed (the other side has been told). */
  onEnd(): void;
}

/**
 * Forwards messages between the downstream and upstream sockets and propagates close: a close from one
 * side closes the other with the same code and reason (1005 "no status" as a close without a code; the
 * abnormal 1006/1015, which cannot be sent, as 1011), an error closes the other side with 1011.
 */
export function pumpWebSocket(downstream: MessageSocket, upstream: MessageSocket, hooks: PumpHooks): void {
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    hooks.onEnd();
  };
  const forward = (to: MessageSocket, direction: "rx" | "tx") => (event: { data: unknown }) => {
    hooks.onMessage?.(direction, sizeOf(event.data));
    try {
      to.send(event.data as string | ArrayBuffer);
    } catch {
      closeQuietly(to, 1011, "send failed");
    }
  };
  const closed = (other: MessageSocket) => (event: { code: number; reason: string }) => {
    if (event.code === 1005) closeQuietly(other);
    else if (sendable(event.code)) closeQuietly(other, event.code, event.reason);
    else closeQuietly(other, 1011, event.reason || "peer closed abnormally");
    end();
  };
  const failed = (other: MessageSocket) => () => {
    closeQuietly(other, 1011, "peer failed");
    end();
  };
  downstream.addEventListener("message", forward(upstream, "rx"));
  upstream.addEventListener("message", forward(downstream, "tx"));
  downstream.addEventListener("close", closed(upstream));
  upstream.addEventListener("close", closed(downstream));
  downstream.addEventListener("error", failed(upstream));
  upstream.addEventListener("error", failed(downstream));
}
