// RFC 6902 JSON Patch (add, remove, replace, move, copy, test) over RFC 6901 JSON Pointers:
// what the server's living documents send (docs/api.md "Living documents"). applyPatch is
// atomic: it works on a copy and returns the new document, or throws a PatchError and leaves
// the input untouched.
export class PatchError extends Error {
  constructor(message, op) {
    super(message);
    this.name = "PatchError";
    this.op = op;
  }
}

export function parsePointer(pointer) {
  if (pointer === "") return [];
  if (typeof pointer !== "string" || pointer[0] !== "/") {
    throw new PatchError(`invalid JSON Pointer ${JSON.stringify(pointer)}`);
  }
  return pointer
    .slice(1)
    .split("/")
    .map((token) => {
      if (/~[^01]|~$/.test(token)) throw new PatchError(`invalid escape in ${JSON.stringify(pointer)}`);
      return token.replace(/~1/g, "/").replace(/~0/g, "~");
    });
}

function clone(value) {
  return value === undefined ? undefined : structuredClone(value);
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function arrayIndex(array, token, forInsert) {
  if (forInsert && token === "-") return array.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new PatchError(`invalid array index "${token}"`);
  const index = Number(token);
  if (index > array.length || (!forInsert && index === array.length)) {
    throw new PatchError(`array index ${index} out of range`);
  }
  return index;
}

function get(doc, tokens) {
  let node = doc;
  for (const token of tokens) {
    if (Array.isArray(node)) {
      node = node[arrayIndex(node, token, false)];
    } else if (isObject(node) && Object.hasOwn(node, token)) {
      node = node[token];
    } else {
      throw new PatchError(`path /${tokens.join("/")} does not exist`);
    }
  }
  return node;
}

// Returns the new root after putting `value` at `tokens` (add semantics).
function add(doc, tokens, value) {
  if (tokens.length === 0) return value;
  const parent = get(doc, tokens.slice(0, -1));
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) {
    parent.splice(arrayIndex(parent, last, true), 0, value);
  } else if (isObject(parent)) {
    parent[last] = value;
  } else {
    throw new PatchError(`cannot add below a ${parent === null ? "null" : typeof parent}`);
  }
  return doc;
}

// Removes the value at `tokens` (which must exist); returns [new root, removed value].
function remove(doc, tokens) {
  if (tokens.length === 0) return [undefined, doc];
  const parent = get(doc, tokens.slice(0, -1));
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) {
    const index = arrayIndex(parent, last, false);
    return [doc, parent.splice(index, 1)[0]];
  }
  if (isObject(parent) && Object.hasOwn(parent, last)) {
    const removed = parent[last];
    delete parent[last];
    return [doc, removed];
  }
  throw new PatchError(`path /${tokens.join("/")} does not exist`);
}

export function deepEqual(a, b) {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

export function applyOperation(doc, op) {
  if (!op || typeof op !== "object") throw new PatchError("an operation must be an object", op);
  const path = parsePointer(op.path);
  switch (op.op) {
    case "add":
      if (!("value" in op)) throw new PatchError("add needs a value", op);
      return add(doc, path, clone(op.value));
    case "remove":
      return remove(doc, path)[0];
    case "replace":
      if (!("value" in op)) throw new PatchError("replace needs a value", op);
      if (path.length === 0) return clone(op.value);
      get(doc, path);
      return add(remove(doc, path)[0], path, clone(op.value));
    case "move": {
      const from = parsePointer(op.from);
      if (path.length > from.length && from.every((t, i) => t === path[i])) {
        throw new PatchError("cannot move a value into one of its children", op);
      }
      const [rest, value] = remove(doc, from);
      return add(rest, path, value);
    }
    case "copy":
      return add(doc, path, clone(get(doc, parsePointer(op.from))));
    case "test":
      if (!deepEqual(get(doc, path), op.value)) throw new PatchError(`test failed at ${op.path}`, op);
      return doc;
    default:
      throw new PatchError(`unknown operation ${JSON.stringify(op.op)}`, op);
  }
}

export function applyPatch(doc, ops) {
  if (!Array.isArray(ops)) throw new PatchError("a patch must be an array of operations");
  let result = clone(doc);
  for (const op of ops) {
    try {
      result = applyOperation(result, op);
    } catch (err) {
      if (err instanceof PatchError) {
        err.op ??= op;
        throw err;
      }
      throw new PatchError(String(err?.message ?? err), op);
    }
  }
  return result;
}
