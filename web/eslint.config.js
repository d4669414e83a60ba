// The page's and the extension's sources: JavaScript's and TypeScript's recommended rules, Vue's recommended rules
// without the layout ones (the code keeps its hand-made layout), and the accessibility rules for templates.
import js from "@eslint/js";
import vue from "eslint-plugin-vue";
import vueA11y from "eslint-plugin-vuejs-accessibility";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "comfyui/", ".build-check/", "src/api/schema.ts"] },
  js.configs.recommended,
  tseslint.configs.recommended,
  vue.configs["flat/recommended"],
  vue.configs["no-layout-rules"],
  vueA11y.configs["flat/recommended"],
  {
    files: ["**/*.vue"],
    languageOptions: { parserOptions: { parser: tseslint.parser } },
  },
  {
    languageOptions: { globals: globals.browser },
    rules: {
      // A control inside its <label> is labelled; so is one the label names with `for`. Either is enough.
      "vuejs-accessibility/label-has-for": ["error", { required: { some: ["nesting", "id"] } }],
      // `DefineLocaleMessage extends MessageSchema {}` is how vue-i18n takes the messages' type.
      "@typescript-eslint/no-empty-object-type": ["error", { allowInterfaces: "with-single-extends" }],
      // `const { a: _a, ...rest } = x` is how a field is left out of a copy.
      "@typescript-eslint/no-unused-vars": ["error", { ignoreRestSiblings: true }],
    },
  },
  {
    files: ["scripts/**", "*.config.{js,ts}"],
    languageOptions: { globals: globals.node },
  },
);
