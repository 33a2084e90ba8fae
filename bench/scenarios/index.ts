/**
 * Every scenario `npm run bench` knows, in the order a full run takes them. Issue 7's others
 * (redis, udp, postgres, memory) are added here as their features land; see
 * bench/lib/types.ts for the contract.
 */
import type { Scenario } from "../lib/types.ts";
import { edgeHttp } from "./edge-http.ts";
import { engineOverhead } from "./engine-overhead.ts";
import { routeMatch } from "./route-match.ts";
import { tcpBulk } from "./tcp-bulk.ts";
import { tcpRr } from "./tcp-rr.ts";
import { memory } from "./memory.ts";
import { postgres } from "./postgres.ts";
import { redis } from "./redis.ts";
import { udp } from "./udp.ts";

export const SCENARIOS: readonly Scenario[] = [routeMatch, engineOverhead, edgeHttp, tcpBulk, tcpRr, udp, redis, postgres, memory];
