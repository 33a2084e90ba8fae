import { expect, it } from "vitest";

// The README promises the project brings its own Node: npm scripts must run the node@24 devDependency,
// whose built-in type stripping runs the TypeScript sources (tests, npm start) without a build; the tcp
// tier's `legate` runs from a bundle of the same sources (bin/bundle.js, test/bundle.test.ts).
it("npm scripts run the project's Node 24", () => {
  expect(Number(process.versions.node.split(".")[0])).toBe(24);
  expect(process.features.typescript).toBe("strip");
});
