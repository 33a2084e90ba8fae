import http from "node:http";
import type { TestProject } from "vitest/node";
export default async function (project: TestProject) {
  const srv = http.createServer((_q, s) => s.end("upstream"));
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  project.provide("upstreamPort" as never, (srv.address() as { port: number }).port as never);
  return () => new Promise<void>((r) => srv.close(() => r()));
}
