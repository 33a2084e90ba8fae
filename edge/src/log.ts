/** The edge's logger: Workers `console` (visible in `wrangler tail` and the dashboard's logs). */
import type { Logger } from "../../shared/log.ts";

export const consoleLogger: Logger = {
  level: "info",
  debug: (msg) => console.debug(`[legate] ${msg}`),
  info: (msg) => console.info(`[legate] ${msg}`),
  warn: (msg) => console.warn(`[legate] ${msg}`),
  error: (msg) => console.error(`[legate] ${msg}`),
};
