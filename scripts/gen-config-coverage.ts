/**
 * Refreshes the generated parts of docs/config-coverage.md from the code:
 * - the supported-field table, from shared/config/coverage.ts;
 * - the extension list, from shared/config/extensions.ts;
 * - the corpus figure, by validating every config in test/fixtures/envoy-configs (a copy of ../shared/envoy-configs).
 *
 * Run after changing the coverage table or the validator: `npx tsx scripts/gen-config-coverage.ts`.
 * test/config/coverage.test.ts fails when the doc and the code disagree.
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { coverageRows } from "../shared/config/coverage.ts";
import { EXTENSIONS } from "../shared/config/extensions.ts";
import { loadBootstrap } from "../tcp-tier/src/config/load.ts";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const docPath = join(repo, "docs", "config-coverage.md");
// A copy of ../shared/envoy-configs, so a clone tests on its own; .ci/run checks the copy is current.
const corpusDir = resolve(repo, "test", "fixtures", "envoy-configs");

function replaceRegion(text: string, name: string, body: string): string {
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`docs/config-coverage.md lacks the ${begin} … ${end} region`);
  return `${text.slice(0, i + begin.length)}\n${body}\n${text.slice(j)}`;
}

function table(): string {
  const lines = ["| Message | Field | Values | Notes |", "| --- | --- | --- | --- |"];
  for (const r of coverageRows()) {
    lines.push(`| \`${r.message}\` | \`${r.field}\` | ${r.values ? r.values.join(", ") : ""} | ${r.note.replace(/\|/g, "\\|")} |`);
  }
  return lines.join("\n");
}

function extensions(): string {
  const lines = ["| Extension | `@type` | Kind | Tiers |", "| --- | --- | --- | --- |"];
  for (const e of EXTENSIONS) {
    const names = [e.name, ...e.aliases].map((n) => `\`${n}\``).join(", ");
    lines.push(`| ${names} | \`${e.typeUrl}\` | ${e.category} | ${e.tiers.join(", ")} |`);
  }
  return lines.join("\n");
}

async function corpus(): Promise<string> {
  const files = readdirSync(corpusDir).filter((f) => /\.ya?ml$/.test(f)).sort();
  let ok = 0;
  for (const f of files) if ((await loadBootstrap({ path: join(corpusDir, f) })).ok) ok++;
  return `${ok} of ${files.length} real Envoy configurations (../shared/envoy-configs) validate`;
}

let doc = readFileSync(docPath, "utf8");
doc = replaceRegion(doc, "coverage-table", table());
doc = replaceRegion(doc, "extensions", extensions());
doc = replaceRegion(doc, "corpus-figure", await corpus());
writeFileSync(docPath, doc);
console.log(`updated ${docPath}`);
