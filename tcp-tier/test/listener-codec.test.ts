/** The listener filters' pure codecs: ClientHello, PROXY v1/v2, HTTP detection, at every chunking and on broken input. */
import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { describe, expect, it } from "vitest";
import { inspectHttp } from "../src/codec/http-inspect.ts";
import { parseProxyHeader } from "../src/codec/proxy-protocol.ts";
import { parseClientHello } from "../src/codec/tls-client-hello.ts";

const MAX = 64 * 1024;
const enc = (s: string) => new TextEncoder().encode(s);
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};
const u16 = (n: number) => [n >> 8, n & 0xff];
const u24 = (n: number) => [n >> 16, (n >> 8) & 0xff, n & 0xff];

/** A ClientHello as Node's TLS client (OpenSSL) sends it, captured from a raw TCP server. */
async function realClientHello(opts: { servername?: string; alpn?: string[] }): Promise<Uint8Array> {
  const server = createServer();
  const got = new Promise<Uint8Array>((resolve) => {
    server.once("connection", (s: Socket) => {
      const parts: Buffer[] = [];
      s.on("data", (d: Buffer) => {
        parts.push(d);
        const all = Buffer.concat(parts);
        if (parseClientHello(all, MAX).kind !== "more") {
          s.destroy();
          resolve(new Uint8Array(all));
        }
      });
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  const c = tlsConnect({ host: "127.0.0.1", port, servername: opts.servername, ALPNProtocols: opts.alpn, rejectUnauthorized: false });
  c.on("error", () => {});
  try {
    return await got;
  } finally {
    c.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/** A hand-built ClientHello whose handshake message is cut into records of at most `recordSize` bytes. */
function syntheticHello(opts: { sni?: string; alpn?: string[]; recordSize?: number; extra?: number[] }): Uint8Array {
  const ext: number[] = [];
  if (opts.sni !== undefined) {
    const name = [...enc(opts.sni)];
    const entry = [0, ...u16(name.length), ...name];
    const data = [...u16(entry.length), ...entry];
    ext.push(...u16(0), ...u16(data.length), ...data);
  }
  if (opts.alpn) {
    const list = opts.alpn.flatMap((p) => [p.length, ...enc(p)]);
    const data = [...u16(list.length), ...list];
    ext.push(...u16(16), ...u16(data.length), ...data);
  }
  ext.push(...(opts.extra ?? []));
  const body = [0x03, 0x03, ...new Array<number>(32).fill(7), 0, ...u16(2), 0x13, 0x01, 1, 0, ...u16(ext.length), ...ext];
  const msg = [1, ...u24(body.length), ...body];
  const size = opts.recordSize ?? msg.length;
  const out: number[] = [];
  for (let i = 0; i < msg.length; i += size) {
    const frag = msg.slice(i, i + size);
    out.push(0x16, 0x03, 0x01, ...u16(frag.length), ...frag);
  }
  return new Uint8Array(out);
}

/** Every strict prefix must ask for more (with a sensible `need`), the whole input must give `final`. */
function atEveryPrefix<T extends { kind: string }>(bytes: Uint8Array, parse: (b: Uint8Array) => T, done: (r: T) => boolean): T {
  for (let i = 0; i < bytes.length; i++) {
    const r = parse(bytes.subarray(0, i));
    if (r.kind !== "more") throw new Error(`prefix of ${i} bytes gave ${JSON.stringify(r)}`);
    const need = (r as { need?: number }).need;
    if (need !== undefined && (need <= i || need > bytes.length)) throw new Error(`prefix of ${i} bytes: need ${need} (total ${bytes.length})`);
  }
  const r = parse(bytes);
  if (!done(r)) throw new Error(`whole input gave ${JSON.stringify(r)}`);
  return r;
}

describe("ClientHello reader", () => {
  it("reads SNI and ALPN from a real OpenSSL ClientHello, asking for more at every shorter prefix", async () => {
    const hello = await realClientHello({ servername: "API.example.com", alpn: ["h2", "http/1.1"] });
    const r = atEveryPrefix(hello, (b) => parseClientHello(b, MAX), (x) => x.kind === "hello");
    expect(r).toEqual({ kind: "hello", serverName: "api.example.com", alpn: ["h2", "http/1.1"], bytes: hello.length });
    // Bytes after the ClientHello (more records) do not change the answer.
    expect(parseClientHello(cat(hello, new Uint8Array([0x17, 3, 3, 0, 1, 9])), MAX)).toEqual(r);
  });

  it("reads a ClientHello without SNI or ALPN", async () => {
    const hello = await realClientHello({});
    const r = parseClientHello(hello, MAX);
    expect(r).toMatchObject({ kind: "hello", alpn: [] });
    expect((r as { serverName?: string }).serverName).toBeUndefined();
  });

  it("reads a ClientHello split over many records, at every prefix", () => {
    for (const recordSize of [1, 7, 50]) {
      const hello = syntheticHello({ sni: "a.b.example.org", alpn: ["x"], recordSize });
      const r = atEveryPrefix(hello, (b) => parseClientHello(b, MAX), (x) => x.kind === "hello");
      expect(r).toEqual({ kind: "hello", serverName: "a.b.example.org", alpn: ["x"], bytes: hello.length });
    }
  });

  it("tells plain bytes from TLS at the first byte", () => {
    expect(parseClientHello(enc("G"), MAX)).toEqual({ kind: "not-tls" });
    expect(parseClientHello(enc("GET / HTTP/1.1\r\n"), MAX)).toEqual({ kind: "not-tls" });
    expect(parseClientHello(new Uint8Array([0x16, 0x02]), MAX)).toEqual({ kind: "not-tls" });
    // An SSLv2-style hello is not a TLS record.
    expect(parseClientHello(new Uint8Array([0x80, 0x2e, 0x01]), MAX)).toEqual({ kind: "not-tls" });
  });

  it("reports a ClientHello larger than the limit from its header, without waiting for it", () => {
    const header = new Uint8Array([0x16, 3, 1, 0x40, 0x00, 1, ...u24(200_000)]);
    expect(parseClientHello(header, MAX)).toEqual({ kind: "too-large" });
    const hello = syntheticHello({ sni: "x.example", recordSize: 40 });
    expect(parseClientHello(hello, 60)).toEqual({ kind: "too-large" });
  });

  it("calls broken ClientHellos malformed", () => {
    const dupSni = syntheticHello({ sni: "a.example", extra: [0, 0, 0, 4, 0, 2, 0, 0] });
    expect(parseClientHello(dupSni, MAX)).toMatchObject({ kind: "malformed" });
    const emptyAlpn = syntheticHello({ alpn: [""] });
    expect(parseClientHello(emptyAlpn, MAX)).toMatchObject({ kind: "malformed" });
    const nulInName = syntheticHello({ sni: "a\u0000b" });
    expect(parseClientHello(nulInName, MAX)).toMatchObject({ kind: "malformed" });
    const zeroRecord = new Uint8Array([0x16, 3, 1, 0, 0]);
    expect(parseClientHello(zeroRecord, MAX)).toMatchObject({ kind: "malformed" });
    const serverHello = new Uint8Array([0x16, 3, 3, 0, 4, 2, 0, 0, 0]);
    expect(parseClientHello(serverHello, MAX)).toEqual({ kind: "not-tls" });
  });

  it("never throws on mutated input (bounded fuzz)", async () => {
    const hello = await realClientHello({ servername: "fuzz.example", alpn: ["h2"] });
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    const kinds = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const b = hello.slice(0, 5 + (rand() % (hello.length - 5)) + 1);
      for (let k = 0; k < 1 + (rand() % 4); k++) b[rand() % b.length] = rand() & 0xff;
      kinds.add(parseClientHello(b, MAX).kind);
    }
    expect(kinds.has("malformed") || kinds.has("not-tls")).toBe(true);
  });
});

describe("PROXY protocol reader", () => {
  const v2sig = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
  const v2 = (cmd: number, fam: number, body: number[]) => new Uint8Array([...v2sig, 0x20 | cmd, fam, ...u16(body.length), ...body]);

  it("reads v1 TCP4, TCP6 and UNKNOWN at every prefix", () => {
    const h4 = enc("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n");
    expect(atEveryPrefix(h4, parseProxyHeader, (r) => r.kind === "header")).toEqual({
      kind: "header", version: 1, bytes: h4.length, local: false, source: { address: "192.0.2.1", port: 56324 }, destination: { address: "198.51.100.7", port: 443 }, tlvs: [],
    });
    const h6 = enc("PROXY TCP6 2001:db8:0:0:0:0:0:1 ::ffff:10.0.0.1 1 65535\r\n");
    expect(atEveryPrefix(h6, parseProxyHeader, (r) => r.kind === "header")).toMatchObject({ source: { address: "2001:db8::1", port: 1 }, destination: { address: "::ffff:a00:1", port: 65535 } });
    const unknown = enc("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n");
    expect(parseProxyHeader(cat(unknown, enc("payload")))).toEqual({ kind: "header", version: 1, bytes: unknown.length, local: true, tlvs: [] });
  });

  it("reads v2 PROXY over IPv4 and IPv6 with TLVs, and LOCAL, at every prefix", () => {
    const tlvs = [0x02, ...u16(3), ...enc("abc"), 0xe0, ...u16(0)];
    const p4 = v2(1, 0x11, [192, 0, 2, 1, 10, 0, 0, 9, ...u16(40000), ...u16(8443), ...tlvs]);
    expect(atEveryPrefix(p4, parseProxyHeader, (r) => r.kind === "header")).toEqual({
      kind: "header", version: 2, bytes: p4.length, local: false, source: { address: "192.0.2.1", port: 40000 }, destination: { address: "10.0.0.9", port: 8443 },
      tlvs: [{ type: 2, value: enc("abc") }, { type: 0xe0, value: new Uint8Array(0) }],
    });
    const src6 = [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 5];
    const dst6 = [...new Array<number>(15).fill(0), 1];
    const p6 = v2(1, 0x21, [...src6, ...dst6, ...u16(1234), ...u16(80)]);
    expect(atEveryPrefix(p6, parseProxyHeader, (r) => r.kind === "header")).toMatchObject({ source: { address: "2001:db8::5", port: 1234 }, destination: { address: "::1", port: 80 } });
    const local = v2(0, 0x00, [1, 2, 3]);
    expect(parseProxyHeader(cat(local, enc("x")))).toEqual({ kind: "header", version: 2, bytes: local.length, local: true, tlvs: [] });
    const unspec = v2(1, 0x00, []);
    expect(parseProxyHeader(unspec)).toMatchObject({ kind: "header", local: true });
  });

  it("says absent as soon as neither signature can match", () => {
    expect(parseProxyHeader(enc("G"))).toEqual({ kind: "absent" });
    expect(parseProxyHeader(enc("PROX"))).toEqual({ kind: "more", need: 6 });
    expect(parseProxyHeader(enc("PROXZ"))).toEqual({ kind: "absent" });
    expect(parseProxyHeader(new Uint8Array([0x0d, 0x0a, 0x0d]))).toEqual({ kind: "more", need: 16 });
    expect(parseProxyHeader(new Uint8Array([0x0d, 0x0a, 0x0e]))).toEqual({ kind: "absent" });
  });

  it("reports broken headers as errors of their version", () => {
    const bad1 = [
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
      "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
      "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
      "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
      "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
      `PROXY TCP4 ${"1".repeat(120)}`,
    ];
    for (const h of bad1) expect(parseProxyHeader(enc(h)), h).toMatchObject({ kind: "error", version: 1 });
    expect(parseProxyHeader(new Uint8Array([...v2sig, 0x31, 0x11, 0, 0]))).toMatchObject({ kind: "error", version: 2 });
    expect(parseProxyHeader(new Uint8Array([...v2sig, 0x22, 0x11, 0, 0]))).toMatchObject({ kind: "error", version: 2 });
    expect(parseProxyHeader(new Uint8Array([...v2sig, 0x21, 0x41, 0, 0]))).toMatchObject({ kind: "error", version: 2 });
    expect(parseProxyHeader(v2(1, 0x11, [1, 2, 3]))).toMatchObject({ kind: "error", version: 2 });
    expect(parseProxyHeader(v2(1, 0x11, [192, 0, 2, 1, 10, 0, 0, 9, 0, 1, 0, 2, 0x02, 0, 9, 1]))).toMatchObject({ kind: "error", version: 2 });
  });
});

describe("never throws on mutated input (bounded fuzz)", () => {
  it("PROXY protocol and HTTP readers", () => {
    let seed = 99;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    const samples = [
      enc("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n"),
      enc("PROXY TCP6 2001:db8::1 ::1 1 2\r\n"),
      new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0, 15, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2, 2, 0, 0]),
      enc("GET / HTTP/1.1\r\n"),
      enc("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ];
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const src = samples[i % samples.length]!;
      const b = src.slice(0, 1 + (rand() % src.length));
      for (let k = 0; k < 1 + (rand() % 3); k++) b[rand() % b.length] = rand() & 0xff;
      seen.add(parseProxyHeader(b).kind);
      seen.add(`http:${inspectHttp(b).kind}`);
    }
    expect(seen.has("error") && seen.has("absent") && seen.has("http:not-http")).toBe(true);
  });
});

describe("HTTP inspector", () => {
  it("recognises HTTP/1.1, HTTP/1.0 and the h2c preface at every prefix", () => {
    for (const [text, protocol] of [
      ["GET /index.html?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", "http/1.1"],
      ["POST * HTTP/1.0\r\n", "http/1.0"],
      ["M-SEARCH * HTTP/1.1\r\n", "http/1.1"],
      ["PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04", "h2c"],
    ] as const) {
      const b = enc(text);
      const end = protocol === "h2c" ? 24 : text.indexOf("\r\n") + 2;
      atEveryPrefix(b.subarray(0, end), inspectHttp, (r) => r.kind === "http" && r.protocol === protocol);
      expect(inspectHttp(b)).toEqual({ kind: "http", protocol });
    }
  });

  it("calls other bytes not HTTP, early", () => {
    for (const t of ["\x16\x03\x01", "get / HTTP/1.1\r\n", "GET  / HTTP/1.1\r\n", "GET / HTTP/2.0\r\n", "GET / HTTP/1.1\n", "GET / HTTP/1.2\r\n", "SSH-2.0-OpenSSH\r\n", "PRI * HTTP/2.0\r\n\r\nXX"]) {
      expect(inspectHttp(enc(t)), JSON.stringify(t)).toEqual({ kind: "not-http" });
    }
    expect(inspectHttp(enc(`GET /${"a".repeat(9000)}`))).toEqual({ kind: "not-http" });
  });
});
