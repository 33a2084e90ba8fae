/** The entry of a worker process (node:cluster runs this file; see worker.ts). */
import { runWorker } from "./worker.ts";

runWorker();
