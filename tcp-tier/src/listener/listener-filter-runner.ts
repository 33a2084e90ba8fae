/**
 * Runs a listener's filters on one accepted socket (Envoy's ActiveTcpSocket): reads the socket into a
 * buffer, offers the buffer to each filter in config order until it is done, then pauses the socket
 * and hands over what is known and the bytes not consumed, for the connection to replay. Bounded: at
 * most {@link MAX_LISTENER_FILTER_BUFFER} bytes are kept, `listener_filters_timeout` bounds the time,
 * and a peer that closes or resets first just ends it (counted).
 */
import type { Socket } from "node:net";
import type { Counter, Gauge } from "../../../shared/stats/store.ts";
import type { ListenerFilter, ListenerFilterFactory, ListenerFilterResult, ListenerFilterState } from "./listener-filter.ts";

/** More than any filter may ask for (a 64 KiB ClientHello, a 64 KiB PROXY v2 header). */
export const MAX_LISTENER_FILTER_BUFFER = 160 * 1024;

export interface ListenerFilterRunStats {
  /** `downstream_pre_cx_timeout`: sockets whose listener filters timed out. */
  timeout: Counter;
  /** `downstream_pre_cx_active`: sockets in their listener filters now. */
  active: Gauge;
  /** `downstream_listener_filter_remote_close`: the peer closed before the filters were done. */
  remoteClose: Counter;
  /** `downstream_listener_filter_error`: read errors, over-long input, or a filter that threw. */
  error: Counter;
}

export interface ListenerFilterRunOptions {
  factories: readonly ListenerFilterFactory[];
  /** 0: no timeout. */
  timeoutMs: number;
  continueOnTimeout: boolean;
  stats: ListenerFilterRunStats;
  /**
   * Every filter is done (or timed out with `continueOnTimeout`): the socket is paused, its listeners
   * removed, and `head` holds the bytes read and not consumed, in order.
   */
  onDone(state: ListenerFilterState, head: Uint8Array): void;
  /** The socket was closed before the filters were done (by a filter, the peer, or a timeout). */
  onClosed(): void;
}

const EMPTY = new Uint8Array(0);

/** Starts the filters on `socket`; returns a function that aborts the run (destroying the socket). */
export function runListenerFilters(socket: Socket, o: ListenerFilterRunOptions): () => void {
  const state: ListenerFilterState = { socket, transportProtocol: "raw_buffer", applicationProtocols: [] };
  const filters: ListenerFilter[] = o.factories.map((f) => f());
  let data = new Uint8Array(0);
  let start = 0;
  let end = 0;
  let index = 0;
  let awaitingData = false;
  let need = 0;
  let finished = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  o.stats.active.inc();

  const buffered = () => data.subarray(start, end);
  const detach = () => {
    finished = true;
    if (timer) clearTimeout(timer);
    socket.off("data", onData);
    socket.off("end", onEnd);
    socket.off("close", onClose);
    o.stats.active.dec();
  };
  const fail = () => {
    if (finished) return;
    detach();
    socket.destroy();
    o.onClosed();
  };
  const finish = () => {
    if (finished) return;
    socket.pause();
    detach();
    socket.off("error", onError);
    o.onDone(state, end > start ? buffered().slice() : EMPTY);
  };
  const step = (): void => {
    try {
      runFilters();
    } catch {
      // A filter bug must not take the listener down: this socket is closed and counted.
      o.stats.error.inc();
      fail();
    }
  };
  const runFilters = (): void => {
    while (index < filters.length) {
      const f = filters[index]!;
      let r: ListenerFilterResult;
      if (!awaitingData) {
        r = f.onAccept(state);
        if (r.status === "more") {
          awaitingData = true;
          need = Math.max(1, r.need ?? 1);
          if (end - start < need) return;
          continue;
        }
      } else {
        if (end - start < need) return;
        r = f.onData(buffered(), state);
        if (r.status === "more") {
          // Never ask again with the same bytes.
          need = Math.max(end - start + 1, r.need ?? 0);
          if (need > MAX_LISTENER_FILTER_BUFFER) {
            o.stats.error.inc();
            fail();
          }
          return;
        }
      }
      if (r.status === "close") {
        fail();
        return;
      }
      if (r.consume) start = Math.min(end, start + r.consume);
      index++;
      awaitingData = false;
      need = 0;
    }
    finish();
  };
  const append = (chunk: Uint8Array) => {
    if (end + chunk.length > data.length) {
      const live = end - start;
      const next = new Uint8Array(Math.max(live + chunk.length, 2 * live, 1024));
      next.set(data.subarray(start, end));
      data = next;
      start = 0;
      end = live;
    }
    data.set(chunk, end);
    end += chunk.length;
  };
  function onData(chunk: Uint8Array): void {
    if (finished) return;
    if (end - start + chunk.length > MAX_LISTENER_FILTER_BUFFER) {
      o.stats.error.inc();
      fail();
      return;
    }
    append(chunk);
    if (end - start >= need) step();
  }
  function onEnd(): void {
    if (finished) return;
    o.stats.remoteClose.inc();
    fail();
  }
  function onError(): void {
    if (!finished) o.stats.error.inc();
  }
  function onClose(): void {
    if (finished) return;
    detach();
    o.onClosed();
  }

  socket.on("error", onError);
  socket.on("close", onClose);
  if (o.timeoutMs > 0) {
    timer = setTimeout(() => {
      if (finished) return;
      o.stats.timeout.inc();
      if (o.continueOnTimeout) finish();
      else fail();
    }, o.timeoutMs);
  }
  step();
  if (!finished) {
    socket.on("end", onEnd);
    socket.on("data", onData);
  }
  return fail;
}
