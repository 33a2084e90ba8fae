import { it, expect } from "vitest";
it("node", () => { expect(process.versions.node.split(".")[0]).toBe("24"); });
