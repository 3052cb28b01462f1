import assert from "node:assert/strict";
import { test } from "node:test";

import { Backoff } from "../src/index.js";

test("delays double up to the cap and stay within [cap/2, cap]", () => {
  const low = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0 });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => low.next()), [50, 100, 200, 400, 500, 500]);
  const high = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0.999999 });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => high.next()), [100, 200, 400, 800, 1000, 1000]);
});

test("jitter spreads clients apart", () => {
  const seen = new Set();
  for (let i = 0; i < 50; i++) {
    const b = new Backoff({ baseMs: 1000, maxMs: 60000 });
    b.next();
    b.next();
    const d = b.next(); // cap 4000
    assert.ok(d >= 2000 && d <= 4000, String(d));
    seen.add(d);
  }
  assert.ok(seen.size > 10, "random delays, not one value");
});

test("reset starts over; a huge attempt count does not overflow", () => {
  const b = new Backoff({ baseMs: 10, maxMs: 50, random: () => 1 });
  for (let i = 0; i < 2000; i++) b.next();
  assert.equal(b.next(), 50);
  b.reset();
  assert.equal(b.next(), 10);
  assert.throws(() => new Backoff({ baseMs: 0 }), RangeError);
  assert.throws(() => new Backoff({ baseMs: 10, maxMs: 5 }), RangeError);
});
