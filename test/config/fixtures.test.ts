/**
 * Config fixtures in Envoy YAML (test/config/fixtures/*.yaml), each carrying its exact expected outcome in
 * leading comments: `# expect: ok` for a config that must load, and one
 * `# expect: <kind> | <path> | <message>` line per issue (warnings included), in the order reported.
 */
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { ConfigIssue } from "../../shared/config/issues.ts";
import { loadBootstrap } from "../../tcp-tier/src/config/load.ts";

const dir = join(dirname(fileURLToPath(import.meta.url)), "fixtures");
const fixtures = readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();

function expectations(text: string): { ok: boolean; issues: ConfigIssue[] } {
  let ok = false;
  const issues: ConfigIssue[] = [];
  for (const line of text.split("\n")) {
    const m = /^# expect: (.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === "ok") {
      ok = true;
      continue;
    }
    const [kind, path, ...message] = m[1]!.split(" | ");
    issues.push({ kind: kind as ConfigIssue["kind"], path: path!, message: message.join(" | ") });
  }
  return { ok, issues };
}

describe("config fixtures", () => {
  it("has fixtures, each with an expectation", () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(15);
    for (const f of fixtures) {
      const e = expectations(readFileSync(join(dir, f), "utf8"));
      expect(e.ok || e.issues.length > 0, f).toBe(true);
    }
  });

  for (const f of fixtures) {
    it(f, async () => {
      const want = expectations(readFileSync(join(dir, f), "utf8"));
      const got = await loadBootstrap({ path: join(dir, f) });
      expect(got.ok).toBe(want.ok);
      expect(got.ok ? got.warnings : got.issues).toEqual(want.issues);
    });
  }
});
