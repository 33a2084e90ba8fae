/**
 * Global setup for the `edge` vitest project: the loopback echo upstreams of test/echo-servers.ts (read
 * its header for what they do and how a request steers them). Ports are handed to the tests with
 * `project.provide`: `inject("upstreamPorts")` gives the four servers "a", "b", "c", "d";
 * `upstreamPort`/`upstreamPort2` are "a" and "b"; `closedPort` refuses connections.
 */
import type { TestProject } from "vitest/node";
import { startEchoServers } from "./echo-servers.ts";

declare module "vitest" {
  export interface ProvidedContext {
    upstreamPort: number;
    upstreamPort2: number;
    upstreamPorts: number[];
    closedPort: number;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const echo = await startEchoServers();
  project.provide("upstreamPorts", echo.ports);
  project.provide("upstreamPort", echo.ports[0]!);
  project.provide("upstreamPort2", echo.ports[1]!);
  project.provide("closedPort", echo.closedPort);
  return () => echo.close();
}
