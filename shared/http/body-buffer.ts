/**
 * Buffering a request body so it can be sent more than once (retries, hedges, the shadow copy of
 * mirroring). Envoy buffers up to `per_request_buffer_limit_bytes` (route, else virtual host, never
 * more than the listener's `per_connection_buffer_limit_bytes`, 1 MiB by default); a body that does
 * not fit is sent once, and the request can then be neither retried nor mirrored
 * (`retry_or_shadow_abandoned`).
 *
 * Legate reads the whole body (up to the limit) before the first attempt, and sends the bytes with
 * their length. A body whose Content-Length is over the limit is not read at all: it streams
 * straight through. Only requests that could be retried or mirrored are buffered; the others stream
 * as they arrive.
 */

/** A request body as the router sends it. */
export type RouterBody =
  /** Replayable: every attempt (and the shadow) sends these bytes. */
  | { kind: "buffered"; bytes: Uint8Array }
  /** Sent once; no retry, no shadow. */
  | { kind: "stream"; stream: ReadableStream<Uint8Array> }
  | { kind: "none" };

export const NO_BODY: RouterBody = Object.freeze({ kind: "none" });

/**
 * Reads `body` into memory when it fits in `limit` bytes. When it does not (a Content-Length over the
 * limit, or more bytes than that arriving), returns a stream that yields the same bytes (those read
 * so far, then the rest). Called once per request that may be retried or mirrored. Rejects when
 * reading the downstream body fails.
 */
export async function bufferRequestBody(body: ReadableStream<Uint8Array>, limit: number, contentLength: string | null): Promise<RouterBody> {
  if (contentLength !== null && /^\d+$/.test(contentLength) && Number(contentLength) > limit) return { kind: "stream", stream: body };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    chunks.push(r.value);
    size += r.value.byteLength;
    if (size > limit) return { kind: "stream", stream: resume(chunks, reader) };
  }
  if (chunks.length === 1) return { kind: "buffered", bytes: chunks[0]! };
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return { kind: "buffered", bytes };
}

/** The chunks already read, then the rest of the reader. */
function resume(chunks: Uint8Array[], reader: ReadableStreamDefaultReader<Uint8Array>): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (i < chunks.length) {
          controller.enqueue(chunks[i]!);
          chunks[i++] = EMPTY;
          return;
        }
        const r = await reader.read();
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

const EMPTY = new Uint8Array(0);
