import { describe, expect, it } from "vitest";
import { StreamTimer } from "./stream-timer.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("StreamTimer", () => {
  it("re-armed for the same instant keeps its timer and runs only the latest callback", async () => {
    const t = new StreamTimer();
    const calls: string[] = [];
    const at = performance.now() + 30;
    t.arm(at, performance.now(), () => calls.push("call"));
    t.arm(at, performance.now(), () => calls.push("body"));
    await sleep(80);
    expect(calls).toEqual(["body"]);
  });

  it("re-armed for another instant fires at the new one", async () => {
    const t = new StreamTimer();
    const calls: number[] = [];
    const start = performance.now();
    t.arm(start + 500, start, () => calls.push(1));
    t.arm(start + 20, performance.now(), () => calls.push(2));
    await sleep(80);
    expect(calls).toEqual([2]);
    t.clear();
  });

  it("runs nothing once cleared, and can be armed again", async () => {
    const t = new StreamTimer();
    const calls: number[] = [];
    t.arm(performance.now() + 10, performance.now(), () => calls.push(1));
    t.clear();
    await sleep(40);
    expect(calls).toEqual([]);
    t.arm(performance.now() + 10, performance.now(), () => calls.push(2));
    await sleep(40);
    expect(calls).toEqual([2]);
  });
});
