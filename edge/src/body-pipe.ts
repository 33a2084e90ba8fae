/**
 * The edge's {@link BodyPipe}: the upstream body is piped into a native stream of workerd's
 * (`FixedLengthStream` when the length is known, so the response keeps its Content-Length; else
 * `IdentityTransformStream`). Both ends are runtime streams, so workerd moves the bytes without
 * running JavaScript per chunk; the engine learns the end from the `pipeTo` promise and aborts the pipe
 * through `signal` when the route timeout fires.
 */
import type { BodyPipe } from "../../shared/http/body-pipe.ts";

export const nativeBodyPipe: BodyPipe = (body, length, signal) => {
  const t = length !== undefined ? new FixedLengthStream(length) : new IdentityTransformStream();
  const done = body.pipeTo(t.writable, signal ? { signal } : {});
  return { readable: t.readable, done };
};
