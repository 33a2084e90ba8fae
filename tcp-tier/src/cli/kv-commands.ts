/**
 * `legate push`, `legate versions` and `legate rollback`: validation, the target, and the output.
 * The protocol itself is in push.ts. Exit codes: 0 done (including "unchanged" and dry runs),
 * 1 invalid config or any failure (nothing is written after a failure is detected).
 */
import { configVersionKey } from "../../../shared/kv/layout.ts";
import type { KvArgs, PushArgs, RollbackArgs, VersionsArgs } from "./args.ts";
import { formatDiff } from "./config-diff.ts";
import type { ResolvedIo } from "./io.ts";
import { edgeListenerFromWrangler, type OpenedKv, openKvTarget } from "./kv/open.ts";
import { KvError } from "./kv/target.ts";
import { applyPlan, planPush, planRollback, type PushPlan, readConfigState, readRollbackTarget } from "./push.ts";
import { loadForCli, printIssues } from "./validate.ts";

const short = (v: string): string => v.slice(0, 12);

async function withTarget(args: KvArgs, io: ResolvedIo, run: (kv: OpenedKv) => Promise<number>): Promise<number> {
  let kv: OpenedKv;
  try {
    kv = openKvTarget(args, io.env, io.cwd);
  } catch (e) {
    io.stderr(`error: ${(e as Error).message}\n`);
    return 1;
  }
  try {
    return await run(kv);
  } catch (e) {
    const code = e instanceof KvError ? ` [${e.code}]` : "";
    io.stderr(`error: ${(e as Error).message}${code}\n`);
    return 1;
  } finally {
    await kv.target.close().catch(() => undefined);
  }
}

function report(p: PushPlan, targetDescription: string, dryRun: boolean, io: ResolvedIo): void {
  const verb = p.kind === "push" ? "push" : "rollback";
  const from = p.before ? short(p.before.version) : "(nothing)";
  if (p.unchanged) {
    io.stdout(`unchanged: version ${short(p.version)} is already current in ${targetDescription}; nothing written\n`);
    return;
  }
  const head = dryRun ? `${verb} (dry run) to ${targetDescription}` : `${verb === "push" ? "pushed" : "rolled back"} to ${targetDescription}`;
  io.stdout(`${head}\n`);
  io.stdout(`  version: ${from} -> ${p.version}\n`);
  io.stdout(`  ${dryRun ? "would write" : "wrote"}: ${p.writes.join(", ")}\n`);
  if (p.deletes.length) io.stdout(`  ${dryRun ? "would delete" : "deleted"}: ${p.deletes.join(", ")}\n`);
  const diff = formatDiff(p.diff);
  if (diff.length === 0) io.stdout("  changes: none in listeners, clusters or routes\n");
  for (const line of diff) io.stdout(`  ${line}\n`);
  if (dryRun) io.stdout("nothing written (--dry-run)\n");
}

/** `legate push`. */
export async function runPush(args: PushArgs, io: ResolvedIo): Promise<number> {
  return withTarget(args, io, async ({ target, wrangler }) => {
    const edgeListener = args.edgeListener ?? edgeListenerFromWrangler(wrangler);
    const loaded = await loadForCli({ ...args, ...(edgeListener !== undefined ? { edgeListener } : {}) }, io);
    if (!loaded.ok) {
      printIssues(loaded.issues, io);
      io.stderr(`push refused: the configuration is not valid; nothing was written to ${target.description}\n`);
      return 1;
    }
    printIssues(loaded.warnings, io);
    io.stdout(`configuration '${args.configPath ?? ""}' OK\n`);
    const source = args.configPath !== undefined ? args.configPath + (args.configYaml !== undefined ? " + --config-yaml" : "") : "--config-yaml";
    const p = await planPush(target, loaded.canonical, source);
    if (!args.dryRun) await applyPlan(target, p);
    report(p, target.description, args.dryRun, io);
    return 0;
  });
}

/** `legate versions`. */
export async function runVersions(args: VersionsArgs, io: ResolvedIo): Promise<number> {
  return withTarget(args, io, async ({ target }) => {
    const state = await readConfigState(target);
    if (!state.pointer && state.history.length === 0) {
      io.stdout(`no config pushed to ${target.description}\n`);
      return 0;
    }
    io.stdout(`config versions in ${target.description}, newest first (* = current):\n`);
    const rows = [...state.history];
    if (state.pointer && !rows.some((h) => h.version === state.pointer!.version)) rows.unshift(state.pointer);
    for (const h of rows) {
      const mark = h.version === state.pointer?.version ? "*" : " ";
      io.stdout(`${mark} ${h.version}  ${h.pushed_at}  ${h.source ?? ""}`.trimEnd() + "\n");
    }
    return 0;
  });
}

/** `legate rollback <version>`. */
export async function runRollback(args: RollbackArgs, io: ResolvedIo): Promise<number> {
  return withTarget(args, io, async ({ target, wrangler }) => {
    const rb = await readRollbackTarget(target, args.version);
    const edgeListener = args.edgeListener ?? edgeListenerFromWrangler(wrangler);
    // Re-validate: the stored body passed an older validator; it must pass this one before the edge reloads it.
    const loaded = await loadForCli({ configYaml: rb.text, ...(edgeListener !== undefined ? { edgeListener } : {}) }, io);
    if (!loaded.ok) {
      printIssues(loaded.issues, io);
      io.stderr(`rollback refused: version ${rb.entry.version} (${configVersionKey(rb.entry.version)}) does not validate; nothing was written\n`);
      return 1;
    }
    printIssues(loaded.warnings, io);
    const p = await planRollback(target, rb);
    if (!args.dryRun) await applyPlan(target, p);
    report(p, target.description, args.dryRun, io);
    return 0;
  });
}
