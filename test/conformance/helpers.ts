/**
 * Request and stats helpers for conformance cases, on top of {@link ConformanceContext}: send a request
 * and read its whole body, assert several stats at once, read a body the proxy is expected to reset.
 */
import { expect } from "vitest";
import type { ConformanceContext, RequestOptions } from "./context.ts";

/** A retry back-off short enough not to slow a case down (Envoy JSON `retry_back_off`). */
export const FAST_BACK_OFF = { base_interval: "0.001s", max_interval: "0.002s" };

/** Downstream request headers that make the client internal (trusted) when use_remote_address is off. */
export const INTERNAL_CLIENT = { "x-forwarded-for": "10.1.2.3" };
/** Downstream request headers that make the client external. */
export const EXTERNAL_CLIENT = { "x-forwarded-for": "203.0.113.9" };

/**
 * Sends `http://front.example<path>` through the proxy, reads the whole body and settles (stream
 * completion and waitUntil work are done when it resolves, so stats can be read).
 */
export async function send(ctx: ConformanceContext, path: string, init: RequestInit = {}, options?: RequestOptions): Promise<{ res: Response; text: string }> {
  const res = await ctx.request(new Request(`http://front.example${path}`, { ...init, ...(init.body instanceof ReadableStream ? { duplex: "half" } : {}) } as RequestInit), options);
  const text = await res.text();
  await ctx.settle();
  return { res, text };
}

/** A stat's value, 0 when it was never created. */
export async function statOr0(ctx: ConformanceContext, name: string): Promise<number> {
  return (await ctx.stat(name)) ?? 0;
}

/** Asserts several stats at once (a stat never created counts as 0). */
export async function expectStats(ctx: ConformanceContext, expected: Record<string, number>): Promise<void> {
  const actual: Record<string, number> = {};
  for (const name of Object.keys(expected)) actual[name] = await statOr0(ctx, name);
  expect(actual).toEqual(expected);
}

/**
 * Polls a stat (every 5 ms, at most `tries` times) until it has `value`; returns the last value seen.
 * For state that changes while a request is still in flight (a breaker's open requests).
 */
export async function awaitStat(ctx: ConformanceContext, name: string, value: number, tries = 100): Promise<number> {
  let seen = await statOr0(ctx, name);
  for (let i = 0; i < tries && seen !== value; i++) {
    await sleep(5);
    seen = await statOr0(ctx, name);
  }
  return seen;
}

/**
 * Reads a body that the proxy is expected to reset: resolves with the error it failed with, or
 * undefined when it ended normally.
 *
 * How it reads matters in workerd, which reports some handled failures as unhandled rejections:
 * - `whole` (default): `arrayBuffer()`, as the runtime reads a body it sends. At the edge a body whose
 *   only limits are fixed-time ones (route timeout, max stream duration) is a native pipe's, and a
 *   JS reader's read of an errored native stream is reported even when its promise is handled.
 * - `reader`: through a JS reader. A body an idle timeout watches is the engine's JS stream, and
 *   `arrayBuffer()` of an errored JS stream is reported.
 */
export async function readUntilReset(res: Response, how: "whole" | "reader" = "whole"): Promise<unknown> {
  if (how === "whole") {
    try {
      await res.arrayBuffer();
      return undefined;
    } catch (e) {
      return e;
    }
  }
  const reader = res.body!.getReader();
  for (let i = 0; i < 1000; i++) {
    try {
      const r = await reader.read();
      if (r.done) return undefined;
    } catch (e) {
      return e;
    }
  }
  return undefined;
}

/** Reads the rest of a body through its reader (bounded), as text. */
export async function readRest(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for (let i = 0; i < 1000; i++) {
    const { value, done } = await reader.read();
    if (done) return text + decoder.decode();
    text += decoder.decode(value, { stream: true });
  }
  return text;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
