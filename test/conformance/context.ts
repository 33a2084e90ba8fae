/**
 * The contract between the L7 conformance cases (test/conformance/cases/*.ts) and the runtimes that run
 * them: workerd (edge/test/conformance.test.ts, the Worker's edge handler over KV) and Node
 * (test/conformance/node.test.ts, the shared engine over Node's fetch). A case only talks to the proxy
 * through this interface, so the same case proves the same behaviour in both runtimes.
 */

/** The runtime under test. Cases branch on it only where the platform differs, and say why. */
export type ConformanceRuntime = "workerd" | "node";

export interface ConformanceContext {
  readonly runtime: ConformanceRuntime;
  /**
   * Loads an Envoy v3 bootstrap (YAML or JSON text, or an already parsed object) as the proxy's config,
   * replacing the previous one. Each call starts from fresh state: new stats, an empty access log, new
   * load balancers, breakers and outlier state. Rejects with the config issues (Envoy path form, one per
   * line) when the config does not load: in Node after full validation against Envoy's schema, in
   * workerd after compiling as the edge does.
   */
  loadConfig(config: string | object): Promise<void>;
  /**
   * Sends one downstream request through the proxy; never rejects for proxy failures (they are replies).
   * `options` says what the runtime would learn about the request's connection (default: nothing).
   */
  request(input: Request, options?: RequestOptions): Promise<Response>;
  /** Ports on 127.0.0.1 of the echo servers "a", "b", "c", "d" (test/echo-servers.ts), in that order. */
  readonly upstreamPorts: number[];
  /** A port on 127.0.0.1 that refuses connections. */
  readonly closedPort: number;
  /** The current value of a counter or gauge of the loaded config (undefined when never created). */
  stat(name: string): Promise<number | undefined>;
  /**
   * Waits until work that outlives a response is done (stream completion after the body was read,
   * waitUntil work such as mirrored requests, access log writes). Call it before reading stats or logs.
   */
  settle(): Promise<void>;
  /**
   * Entries written by the stdout and stderr access loggers since the last {@link loadConfig}, in order,
   * each without its final newline (as the console shows them). Call {@link settle} first.
   */
  accessLog(): string[];
}

/** What the runtime learns about a request besides the request itself (its connection). */
export interface RequestOptions {
  /**
   * The client's IP address (no port), as the runtime learns it from the connection: in workerd the
   * `cf-connecting-ip` header Cloudflare sets, in Node the peer of the socket. This is the address
   * `use_remote_address` trusts. Default: unknown (as when a Worker request carries no
   * `cf-connecting-ip`), so the HCM relies on x-forwarded-for alone.
   */
  clientAddress?: string;
}

/** A registrar of conformance cases: the default export of every file in test/conformance/cases/. */
export type ConformanceCases = (ctx: ConformanceContext) => void;
