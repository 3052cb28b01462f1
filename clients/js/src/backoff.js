// Jittered exponential back-off for reconnecting: the n-th delay is drawn uniformly from
// [cap/2, cap] where cap = min(maxMs, baseMs * 2^n), so many clients that lost the same server
// do not come back in step, and none waits longer than maxMs.
export class Backoff {
  constructor({ baseMs = 500, maxMs = 15000, random = Math.random } = {}) {
    if (!(baseMs > 0) || !(maxMs >= baseMs)) throw new RangeError("need 0 < baseMs <= maxMs");
    this.baseMs = baseMs;
    this.maxMs = maxMs;
    this.random = random;
    this.attempt = 0;
  }

  // The delay before the next attempt, in milliseconds; each call counts one attempt.
  next() {
    const cap = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    return Math.round(cap / 2 + this.random() * (cap / 2));
  }

  reset() {
    this.attempt = 0;
  }
}
