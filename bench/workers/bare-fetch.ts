/**
 * The bare Worker edge-http compares Legate's edge with: its fetch handler only forwards the request
 * to the origin (`return fetch(upstream, request)`), in the same workerd, with the same compatibility
 * settings. What Legate's edge costs beyond this is the price of Envoy's routing and router.
 */
interface Env {
  /** The origin's base URL, e.g. `http://127.0.0.1:41234`. */
  UPSTREAM: string;
}

export default {
  fetch(request: Request, env: Env): Promise<Response> {
    const path = request.url.slice(request.url.indexOf("/", request.url.indexOf("//") + 2));
    return fetch(env.UPSTREAM + path, request);
  },
};
