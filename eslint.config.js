// Lint: TypeScript rules everywhere, and the runtime-neutral rule for shared/ (DESIGN.md):
// shared/ runs in workerd and in Node, so it may use only Web-standard APIs.
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", ".wrangler/**", "bench/results/**", "dist/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  {
    files: ["shared/**/*.ts"],
    ignores: ["shared/**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { regex: "^node:", message: "shared/ is runtime-neutral: no node:* modules (DESIGN.md)." },
            { regex: "^cloudflare:", message: "shared/ is runtime-neutral: no cloudflare:* modules (DESIGN.md)." },
            {
              regex: "^(fs|net|http|https|http2|dgram|os|path|child_process|stream|buffer|crypto|tls|dns|url|util|events|zlib)(/.*)?$",
              message: "shared/ is runtime-neutral: no Node built-ins (DESIGN.md).",
            },
          ],
        },
      ],
      "no-restricted-globals": [
        "error",
        { name: "Buffer", message: "shared/ is runtime-neutral: use Uint8Array, not Node's Buffer (DESIGN.md)." },
        { name: "process", message: "shared/ is runtime-neutral: no process global (DESIGN.md)." },
        { name: "require", message: "shared/ is ESM and runtime-neutral." },
      ],
    },
  },
);
