// Lint rules that guard the architecture (STYLE.md): the model layer stays pure and
// layers import only to their left.
import tseslint from "typescript-eslint";

const PURE = ["node:fs", "node:fs/promises", "node:net", "node:child_process", "node:timers", "fs", "net", "child_process", "pino", "execa"];

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**", "test/.cache/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "warn",
      "no-restricted-syntax": ["error", { selector: "TSEnumDeclaration", message: "use an `as const` array and a derived union (STYLE.md)" }],
    },
  },
  {
    files: ["agent/model/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { paths: PURE, patterns: ["../core/*", "../drivers/*", "../control/*", "../exporters/*"] }],
      "no-restricted-globals": ["error", "setTimeout", "setInterval", "setImmediate"],
    },
  },
  {
    files: ["agent/core/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: ["../drivers/*", "../control/*", "../exporters/*"] }] },
  },
  {
    files: ["agent/drivers/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: ["../../control/*", "../../exporters/*", "../control/*", "../exporters/*"] }] },
  },
  {
    files: ["agent/control/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: ["../exporters/*", "../../exporters/*"] }] },
  },
);
