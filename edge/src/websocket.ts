/**
 * The edge's {@link WebSocketSupport}: the upstream end is the WebSocket the Workers `fetch` returns
 * with a 101 (sent with `Upgrade: websocket`); the downstream end is a WebSocketPair whose client half
 * goes back to the runtime in the 101 response. Both ends are accepted here, so the shared pump
 * (shared/http/websocket.ts) forwards messages between them.
 */
import type { MessageSocket, WebSocketSupport } from "../../shared/http/websocket.ts";

/** Handshake headers that belong to the upstream connection, not to the client's. */
const UPSTREAM_ONLY = ["sec-websocket-accept", "sec-websocket-extensions", "content-length"];

export const edgeWebSocket: WebSocketSupport = {
  upstreamSocket(response: Response): MessageSocket | undefined {
    const ws = response.webSocket;
    if (!ws) return undefined;
    ws.accept();
    return ws;
  },
  accept() {
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    server.accept();
    return {
      socket: server,
      respond(head) {
        const headers = new Headers(head.headers);
        for (const h of UPSTREAM_ONLY) headers.delete(h);
        return new Response(null, { status: 101, statusText: head.statusText, headers, webSocket: client });
      },
    };
  },
};
