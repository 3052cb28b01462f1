import assert from "node:assert/strict";
import { test } from "node:test";

import { applyPatch, parsePointer, PatchError } from "../src/index.js";

test("JSON Pointer: escapes and the root", () => {
  assert.deepEqual(parsePointer(""), []);
  assert.deepEqual(parsePointer("/a~1b/c~0d/0"), ["a/b", "c~d", "0"]);
  assert.deepEqual(parsePointer("/"), [""]);
  assert.throws(() => parsePointer("a"), PatchError);
  assert.throws(() => parsePointer("/a~2"), PatchError);
});

test("add, remove, replace on objects and arrays (RFC 6902 appendix A)", () => {
  const doc = { foo: ["bar", "baz"], n: { a: 1 } };
  assert.deepEqual(applyPatch(doc, [{ op: "add", path: "/foo/1", value: "qux" }]).foo, ["bar", "qux", "baz"]);
  assert.deepEqual(applyPatch(doc, [{ op: "add", path: "/foo/-", value: "end" }]).foo, ["bar", "baz", "end"]);
  assert.deepEqual(applyPatch(doc, [{ op: "remove", path: "/foo/0" }]).foo, ["baz"]);
  assert.deepEqual(applyPatch(doc, [{ op: "replace", path: "/n/a", value: 2 }]).n, { a: 2 });
  assert.deepEqual(applyPatch(doc, [{ op: "replace", path: "/foo/1", value: "z" }]).foo, ["bar", "z"]);
  assert.deepEqual(applyPatch(doc, [{ op: "add", path: "/n/b", value: { deep: [1] } }]).n, { a: 1, b: { deep: [1] } });
  assert.deepEqual(applyPatch(doc, [{ op: "replace", path: "", value: [1] }]), [1]);
  assert.deepEqual(applyPatch(null, [{ op: "replace", path: "", value: { x: 1 } }]), { x: 1 });
  assert.deepEqual(doc, { foo: ["bar", "baz"], n: { a: 1 } }, "the input is never changed");
});

test("move, copy and test", () => {
  const doc = { a: { b: 1 }, list: [1, 2, 3] };
  assert.deepEqual(applyPatch(doc, [{ op: "move", from: "/a/b", path: "/c" }]), { a: {}, list: [1, 2, 3], c: 1 });
  assert.deepEqual(applyPatch(doc, [{ op: "move", from: "/list/0", path: "/list/-" }]).list, [2, 3, 1]);
  const copied = applyPatch(doc, [{ op: "copy", from: "/a", path: "/d" }]);
  copied.d.b = 9;
  assert.equal(copied.a.b, 1, "a copy is a deep copy");
  assert.deepEqual(applyPatch(doc, [{ op: "test", path: "/list", value: [1, 2, 3] }]), doc);
  assert.throws(() => applyPatch(doc, [{ op: "test", path: "/a", value: { b: 2 } }]), PatchError);
  assert.throws(() => applyPatch(doc, [{ op: "move", from: "/a", path: "/a/x" }]), PatchError);
});

test("errors leave the document as it was (the patch is atomic)", () => {
  const doc = { list: [1], m: {} };
  const bad = [
    [{ op: "add", path: "/list/5", value: 1 }],
    [{ op: "add", path: "/list/01", value: 1 }],
    [{ op: "remove", path: "/missing" }],
    [{ op: "remove", path: "/list/1" }],
    [{ op: "replace", path: "/m/x", value: 1 }],
    [{ op: "add", path: "/missing/child", value: 1 }],
    [{ op: "add", path: "/list/0/x", value: 1 }],
    [{ op: "bogus", path: "/list" }],
    [{ op: "add", path: "/list" }],
  ];
  for (const ops of bad) {
    assert.throws(() => applyPatch(doc, ops), PatchError, JSON.stringify(ops));
  }
  assert.throws(() => applyPatch(doc, [{ op: "add", path: "/a", value: 1 }, { op: "remove", path: "/nope" }]), PatchError);
  assert.deepEqual(doc, { list: [1], m: {} });
  assert.throws(() => applyPatch(doc, "not ops"), PatchError);
});

test("the patches a Parley room document gets", () => {
  let doc = { title: "t", last_seq: 2, messages: [{ seq: 1 }, { seq: 2 }], members: { a: { role: "owner" } } };
  doc = applyPatch(doc, [
    { op: "add", path: "/messages/-", value: { seq: 3 } },
    { op: "remove", path: "/messages/0" },
    { op: "replace", path: "/last_seq", value: 3 },
  ]);
  assert.deepEqual(doc.messages, [{ seq: 2 }, { seq: 3 }]);
  assert.equal(doc.last_seq, 3);
  doc = applyPatch(doc, [{ op: "add", path: "/members/b", value: { role: "member" } }]);
  assert.deepEqual(Object.keys(doc.members), ["a", "b"]);
});
