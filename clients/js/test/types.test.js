// The hand-written index.d.ts against the modules: every export and every public method of
// an exported class is declared, so the types cannot silently fall behind the code.
import assert from "node:assert/strict";
import fs from "node:fs";
import { test } from "node:test";

import * as lib from "../src/index.js";

const dts = fs.readFileSync(new URL("../src/index.d.ts", import.meta.url), "utf8");

function classBlock(name) {
  const start = dts.search(new RegExp(`export class ${name}\\b`));
  if (start < 0) return null;
  let depth = 0;
  for (let i = dts.indexOf("{", start); i < dts.length; i++) {
    if (dts[i] === "{") depth++;
    if (dts[i] === "}" && --depth === 0) return dts.slice(start, i + 1);
  }
  return null;
}

test("every export is declared", () => {
  for (const [name, value] of Object.entries(lib)) {
    const kind = /^class\b/.test(Function.prototype.toString.call(value)) ? "class" : "function";
    assert.match(dts, new RegExp(`export ${kind} ${name}\\b`), `${kind} ${name} missing from index.d.ts`);
  }
});

test("every public method and accessor of an exported class is declared", () => {
  for (const [name, value] of Object.entries(lib)) {
    if (!/^class\b/.test(Function.prototype.toString.call(value))) continue;
    const block = classBlock(name);
    assert.ok(block, name);
    const members = [
      ...Object.getOwnPropertyNames(value.prototype).filter((m) => m !== "constructor"),
      ...Object.getOwnPropertyNames(value).filter((m) => !["length", "name", "prototype"].includes(m)),
    ];
    for (const member of members) {
      assert.match(block, new RegExp(`\\b${member}\\b[?]?[(:<]`), `${name}.${member} missing from index.d.ts`);
    }
  }
});
