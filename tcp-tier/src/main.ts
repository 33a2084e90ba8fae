/**
 * The `legate` process entry (bin/legate.js imports it): runs the command line and exits with its code.
 * Exiting explicitly matters after serve: the server is closed, and nothing left should hold the process.
 */
import { runCli } from "./cli/main.ts";

process.exit(await runCli(process.argv.slice(2)));
