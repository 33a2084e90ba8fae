import { describe, expect, it } from "vitest";
import { parseArgs, parseLogLevel, UsageError } from "../../tcp-tier/src/cli/args.ts";
import { formatUsageError, helpText } from "../../tcp-tier/src/cli/usage.ts";

function usageError(argv: string[]): UsageError {
  try {
    parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw e;
  }
  throw new Error(`expected a usage error for ${JSON.stringify(argv)}`);
}

describe("Envoy flags", () => {
  it("defaults to serve at info", () => {
    expect(parseArgs(["-c", "envoy.yaml"])).toEqual({ command: "envoy", configPath: "envoy.yaml", mode: "serve", logLevel: "info" });
  });

  it("accepts -c x, -c=x, --config-path x and --config-path=x alike", () => {
    for (const argv of [["-c", "a.yaml"], ["-c=a.yaml"], ["--config-path", "a.yaml"], ["--config-path=a.yaml"]]) {
      expect(parseArgs(argv)).toMatchObject({ command: "envoy", configPath: "a.yaml" });
    }
  });

  it("parses every Envoy option Legate supports", () => {
    expect(
      parseArgs([
        "--config-path=/etc/envoy.yaml",
        "--config-yaml",
        "admin: {}",
        "--mode",
        "init_only",
        "-l",
        "debug",
        "--log-path",
        "/tmp/l.log",
        "--concurrency=4",
        "--edge-listener",
        "front",
      ]),
    ).toEqual({
      command: "envoy",
      configPath: "/etc/envoy.yaml",
      configYaml: "admin: {}",
      mode: "init_only",
      logLevel: "debug",
      logPath: "/tmp/l.log",
      concurrency: 4,
      edgeListener: "front",
    });
  });

  it("takes inline YAML starting with --- as the value of --config-yaml", () => {
    expect(parseArgs(["--config-yaml", "---\nadmin: {}"])).toMatchObject({ configYaml: "---\nadmin: {}" });
  });

  it("maps Envoy's log level names, warn included", () => {
    for (const l of ["trace", "debug", "info", "warning", "error", "critical", "off"]) expect(parseLogLevel(l)).toBe(l);
    expect(parseLogLevel("warn")).toBe("warning");
    expect(parseLogLevel("verbose")).toBeUndefined();
    expect(parseArgs(["-c", "x", "--log-level", "warn"])).toMatchObject({ logLevel: "warning" });
  });

  it("clamps --concurrency 0 to 1, as Envoy", () => {
    expect(parseArgs(["-c", "x", "--concurrency", "0"])).toMatchObject({ concurrency: 1 });
  });

  it("answers --version and --help before anything else", () => {
    expect(parseArgs(["--version"])).toEqual({ command: "version" });
    expect(parseArgs(["--help"])).toEqual({ command: "help" });
    expect(parseArgs(["-h", "-c", "x"])).toEqual({ command: "help" });
    expect(parseArgs(["help", "push"])).toEqual({ command: "help", topic: "push" });
  });

  it("refuses bad command lines with the offending argument", () => {
    expect(usageError(["-c", "x", "--frobnicate"])).toMatchObject({ arg: "--frobnicate", message: "unknown option" });
    expect(usageError(["-c", "x", "-z"])).toMatchObject({ arg: "-z" });
    expect(usageError(["-c", "x", "--mode", "foo"]).message).toContain("unknown mode 'foo'");
    expect(usageError(["-c", "x", "--concurrency", "abc"]).message).toContain("'abc' is not an unsigned integer");
    expect(usageError(["-c", "x", "--concurrency", "-1"]).message).toContain("requires a value");
    expect(usageError(["-c", "x", "--log-level", "loud"]).message).toContain("invalid log level 'loud'");
    expect(usageError(["-c"])).toMatchObject({ arg: "-c", message: "requires a value" });
    expect(usageError(["-c", "--mode", "validate"])).toMatchObject({ arg: "-c", message: "requires a value" });
    expect(usageError(["-c", "x", "--config-yaml", "a: 1", "--config-yaml", "b: 2"])).toMatchObject({ arg: "--config-yaml" });
    expect(usageError(["-c", "x", "-c", "y"]).message).toContain("more than once");
    expect(usageError(["--version=1"]).message).toBe("takes no value");
    expect(usageError(["envoy.yaml"]).message).toContain("unexpected argument");
    expect(usageError(["pussh", "x.yaml"]).message).toContain("unknown command");
    expect(usageError([]).message).toContain("no configuration");
  });

  it("names Envoy options Legate does not implement as such", () => {
    expect(usageError(["-c", "x", "--service-cluster", "a"])).toMatchObject({
      arg: "--service-cluster",
      message: "is an Envoy option that Legate does not support",
    });
  });

  it("formats usage errors like Envoy's parser, with a brief usage", () => {
    const text = formatUsageError(usageError(["-c", "x", "--frobnicate"]));
    expect(text).toMatch(/^PARSE ERROR: Argument: --frobnicate\n\s+unknown option\n/);
    expect(text).toContain("Brief USAGE:");
    expect(text).toContain("legate --help");
    expect(formatUsageError(usageError(["push", "--bogus", "f.yaml"]))).toContain("legate push --help");
  });

  it("documents every flag in the help", () => {
    const help = helpText();
    for (const flag of ["--config-path", "--config-yaml", "--mode", "--log-level", "--log-path", "--concurrency", "--version", "--help", "--edge-listener"]) {
      expect(help).toContain(flag);
    }
    for (const flag of ["--local", "--remote", "--dry-run", "--persist-to", "--namespace-id", "--wrangler-config"]) {
      expect(helpText("push")).toContain(flag);
    }
  });
});

describe("push, versions, rollback", () => {
  it("push takes the file as an argument or with -c, local by default", () => {
    expect(parseArgs(["push", "envoy.yaml"])).toEqual({ command: "push", target: "local", dryRun: false, configPath: "envoy.yaml" });
    expect(parseArgs(["push", "-c", "envoy.yaml", "--remote", "--dry-run", "--namespace-id", "abc123"])).toEqual({
      command: "push",
      target: "remote",
      dryRun: true,
      configPath: "envoy.yaml",
      namespaceId: "abc123",
    });
    expect(parseArgs(["push", "--persist-to=/tmp/s", "--config-yaml", "a: 1", "--edge-listener", "e"])).toEqual({
      command: "push",
      target: "local",
      dryRun: false,
      persistTo: "/tmp/s",
      configYaml: "a: 1",
      edgeListener: "e",
    });
  });

  it("refuses contradictory or incomplete push command lines", () => {
    expect(usageError(["push", "--local", "--remote", "f"]).message).toContain("exclude each other");
    expect(usageError(["push", "--remote", "--persist-to", "d", "f"]).message).toContain("--local only");
    expect(usageError(["push"]).message).toContain("no configuration");
    expect(usageError(["push", "a", "b"])).toMatchObject({ arg: "b" });
    expect(usageError(["push", "-c", "a", "b"]).message).toContain("give the config file once");
    expect(usageError(["push", "--mode", "validate", "f"])).toMatchObject({ arg: "--mode", topic: "push" });
  });

  it("rollback needs a version or a prefix of at least 8 hex digits", () => {
    expect(parseArgs(["rollback", "ABCDEF0123"])).toEqual({ command: "rollback", target: "local", version: "abcdef0123", dryRun: false });
    expect(usageError(["rollback"]).message).toContain("needs the version");
    expect(usageError(["rollback", "abc"]).message).toContain("not a version");
    expect(usageError(["rollback", "zzzzzzzzzz"]).message).toContain("not a version");
  });

  it("versions takes only target options", () => {
    expect(parseArgs(["versions", "--remote"])).toEqual({ command: "versions", target: "remote" });
    expect(usageError(["versions", "x"]).message).toContain("unexpected argument");
    expect(usageError(["versions", "--dry-run"]).message).toBe("unknown option");
  });
});
