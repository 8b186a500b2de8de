// ESLint for the book's page script (book/static): the recommended rules, in a browser.
// The script is a classic <script> (no modules) written in ES2015 at most; it reaches plotly.js
// as window.Plotly. Run by tests/test_widgets_static.py (`make setup` installs ESLint).
import js from "@eslint/js";
import globals from "globals";

export default [
  {
    files: ["book/static/**/*.js"],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2015,
      sourceType: "script",
      globals: { ...globals.browser },
    },
  },
];
