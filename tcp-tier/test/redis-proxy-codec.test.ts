/**
 * The redis_proxy RESP codec: every vector as one chunk, byte by byte and at random splits; malformed
 * input reported (never thrown); the command matrix doc kept equal to the command table.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { arrayOf, bulkString, decodeReply, encodeCommand, encodeValue, ReplyParser, RequestParser, type RespValue } from "../src/extensions/filters/network/redis_proxy/codec.ts";
import { COMMANDS, renderCommandMatrix } from "../src/extensions/filters/network/redis_proxy/commands.ts";
import { keyHash64 } from "../src/extensions/filters/network/redis_proxy/config.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string) => enc.encode(s);

/** Splits `data` into chunks: whole, bytewise, or at seeded random points. */
function splits(data: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [[data], Array.from(data, (_x, i) => data.subarray(i, i + 1))];
  let seed = 7;
  for (let n = 0; n < 20; n++) {
    const chunks: Uint8Array[] = [];
    let i = 0;
    while (i < data.length) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const len = 1 + (seed % 9);
      chunks.push(data.subarray(i, i + len));
      i += len;
    }
    out.push(chunks);
  }
  return out;
}

function parseRequests(chunks: Uint8Array[]): { commands: string[][]; error?: string } {
  const commands: string[][] = [];
  const p = new RequestParser((args) => commands.push(args.map((a) => dec.decode(a))));
  for (const c of chunks) {
    const error = p.feed(c);
    if (error) return { commands, error };
  }
  return { commands };
}

function parseReplies(chunks: Uint8Array[]): { frames: string[]; error?: string } {
  const frames: string[] = [];
  const p = new ReplyParser((f) => frames.push(dec.decode(f)));
  for (const c of chunks) {
    const error = p.feed(c);
    if (error) return { frames, error };
  }
  return { frames };
}

const REQUESTS: [string, string[][]][] = [
  ["*1\r\n$4\r\nPING\r\n", [["PING"]]],
  ["*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", [["SET", "k", "hello"], ["GET", "k"]]],
  ["*2\r\n$3\r\nGET\r\n$0\r\n\r\n", [["GET", ""]]],
  ["*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n", [["ECHO", "a\r\nb"]]],
  ["PING\r\n", [["PING"]]],
  ["set  k\t v\r\n\r\nget k\n", [["set", "k", "v"], ["get", "k"]]],
  ['set k "two words"\r\n', [["set", "k", "two words"]]],
  ["*0\r\n*1\r\n$4\r\nQUIT\r\n", [["QUIT"]]],
];

const BAD_REQUESTS = ["*1\r\n:4\r\n", "*1\r\n$4\r\nPINGX\r\n", "*x\r\n", "*1\r\n$-5\r\n", "*1\r\n$4\rPING\r\n", 'get "k\r\n', "*1\r\n$99999999999999999999\r\n"];

const REPLIES = [
  "+OK\r\n",
  "-ERR wrong\r\n",
  ":-42\r\n",
  "$5\r\nhello\r\n",
  "$-1\r\n",
  "$0\r\n\r\n",
  "*-1\r\n",
  "*0\r\n",
  "*3\r\n$1\r\na\r\n:1\r\n*2\r\n+x\r\n$-1\r\n",
  "_\r\n",
  "#t\r\n",
  ",3.14\r\n",
  "(12345678901234567890\r\n",
  "=15\r\ntxt:Some string\r\n",
  "!9\r\nERR nope!\r\n",
  "%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n",
  "~2\r\n:1\r\n:2\r\n",
  ">2\r\n+message\r\n$2\r\nhi\r\n",
  "|1\r\n+ttl\r\n:3\r\n$2\r\nok\r\n",
];

const BAD_REPLIES = ["?x\r\n", ":\r\n", ":12a\r\n", "$3\r\nabcd\r\n", "#x\r\n", "_1\r\n", "*1\r\n?\r\n", "+OK\rX"];

describe("RESP request parser", () => {
  it.each(REQUESTS)("parses %j whole, byte by byte and at random splits", (wire, want) => {
    for (const chunks of splits(b(wire))) expect(parseRequests(chunks)).toEqual({ commands: want });
  });

  it.each(BAD_REQUESTS)("reports malformed %j as an error (never throws) at every split", (wire) => {
    for (const chunks of splits(b(wire))) expect(parseRequests(chunks).error).toMatch(/^Protocol error/);
  });

  it("refuses an inline line longer than 64 KiB and a huge multibulk count", () => {
    expect(parseRequests([b("x".repeat(70_000))]).error).toMatch(/too big inline/);
    expect(parseRequests([b("*9999999\r\n")]).error).toMatch(/multibulk/);
  });

  it("stays failed after an error", () => {
    const p = new RequestParser(() => {});
    expect(p.feed(b("*1\r\n:1\r\n"))).toBeDefined();
    expect(p.feed(b("PING\r\n"))).toBeDefined();
  });

  it("round-trips encodeCommand with binary arguments", () => {
    const bin = new Uint8Array([0, 13, 10, 255]);
    const seen: Uint8Array[][] = [];
    const p = new RequestParser((args) => seen.push(args.map((a) => a.slice())));
    for (const chunks of splits(encodeCommand(["SET", "k", bin]))) for (const c of chunks) p.feed(c);
    expect(seen.length).toBe(22);
    for (const args of seen) expect(Array.from(args[2]!)).toEqual([0, 13, 10, 255]);
  });
});

describe("RESP reply parser", () => {
  it.each(REPLIES)("frames %j whole, byte by byte and at random splits", (wire) => {
    for (const chunks of splits(b(wire))) expect(parseReplies(chunks)).toEqual({ frames: [wire] });
  });

  it("frames a pipeline of every reply type at random splits", () => {
    const all = REPLIES.join("");
    for (const chunks of splits(b(all))) expect(parseReplies(chunks).frames).toEqual(REPLIES);
  });

  it.each(BAD_REPLIES)("reports malformed %j as an error", (wire) => {
    for (const chunks of splits(b(wire))) expect(parseReplies(chunks).error).toBeDefined();
  });

  it("bounds nesting depth", () => {
    expect(parseReplies([b("*1\r\n".repeat(100) + ":1\r\n")]).error).toMatch(/deep/);
  });

  it("decodes and re-encodes every type (attributes drop to the value they annotate)", () => {
    for (const wire of REPLIES) {
      const v: RespValue = decodeReply(b(wire));
      const again = dec.decode(encodeValue(v));
      if (wire.startsWith("|")) expect(again).toBe("$2\r\nok\r\n");
      else expect(again).toBe(wire);
    }
    expect(decodeReply(b(":-42\r\n"))).toEqual({ type: "integer", value: -42n });
    expect(decodeReply(b("%1\r\n+a\r\n#f\r\n"))).toEqual({ type: "map", value: [{ type: "simple", value: "a" }, { type: "boolean", value: false }] });
  });
});

describe("RESP encoders", () => {
  const text = (b: Uint8Array) => new TextDecoder("latin1").decode(b);
  it("write lengths of every digit count, empty values and multi-byte text exactly", () => {
    const long = "k".repeat(12_345);
    expect(text(encodeCommand(["MGET", "", "123456789", "1234567890", long, "é"]))).toBe(
      `*6\r\n$4\r\nMGET\r\n$0\r\n\r\n$9\r\n123456789\r\n$10\r\n1234567890\r\n$12345\r\n${long}\r\n$2\r\n\u00c3\u00a9\r\n`,
    );
    expect(text(bulkString(null))).toBe("$-1\r\n");
    expect(text(bulkString(new Uint8Array([0, 13, 10])))).toBe("$3\r\n\u0000\r\n\r\n");
    const elements = Array.from({ length: 11 }, (_, i) => bulkString(String(i)));
    expect(text(arrayOf(elements))).toBe(`*11\r\n${Array.from({ length: 11 }, (_, i) => `$${String(i).length}\r\n${i}\r\n`).join("")}`);
    expect(text(arrayOf([]))).toBe("*0\r\n");
  });
});

describe("command matrix", () => {
  it("docs/redis-commands.md is generated from the command table", () => {
    const doc = readFileSync(new URL("../../docs/redis-commands.md", import.meta.url), "utf8");
    expect(doc).toBe(renderCommandMatrix());
    for (const name of ["get", "set", "mget", "mset", "del", "unlink", "exists", "touch", "ping", "echo", "auth", "quit", "eval"]) {
      expect(doc).toContain(`| ${name} |`);
      expect(COMMANDS.has(name)).toBe(true);
    }
  });
});

describe("shard hash", () => {
  /** The 64-bit shard hash as one bigint. */
  const keyHash = (key: Uint8Array, hashtagging: boolean): bigint => {
    const h = keyHash64(key, hashtagging, { hi: 0, lo: 0 });
    return (BigInt(h.hi) << 32n) | BigInt(h.lo);
  };
  it("hashes only the first non-empty {tag} with hashtagging, the whole key otherwise", () => {
    expect(keyHash(b("{user1}:a"), true)).toBe(keyHash(b("{user1}:b"), true));
    expect(keyHash(b("{user1}:a"), true)).toBe(keyHash(b("user1"), true));
    expect(keyHash(b("{user1}:a"), false)).not.toBe(keyHash(b("{user1}:b"), false));
    // An empty tag does not count: the whole key is hashed.
    expect(keyHash(b("{}:a"), true)).toBe(keyHash(b("{}:a"), false));
    expect(keyHash(b("{}:a"), true)).not.toBe(keyHash(b("{}:b"), true));
  });

  it("spreads keys over the whole 64-bit space", () => {
    const hashes = Array.from({ length: 4000 }, (_x, i) => keyHash(b(`key:${i}`), false));
    expect(new Set(hashes).size).toBe(4000);
    const top = hashes.map((h) => Number(h >> 62n));
    for (let q = 0; q < 4; q++) expect(top.filter((t) => t === q).length).toBeGreaterThan(800);
  });
});
