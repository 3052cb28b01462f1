// A minimal event emitter: on() returns a function that removes the handler. A handler that
// throws is reported on the console and does not stop the others.
export class Emitter {
  #handlers = new Map();

  on(event, handler) {
    let set = this.#handlers.get(event);
    if (!set) {
      set = new Set();
      this.#handlers.set(event, set);
    }
    set.add(handler);
    return () => this.off(event, handler);
  }

  once(event, handler) {
    const off = this.on(event, (...args) => {
      off();
      handler(...args);
    });
    return off;
  }

  off(event, handler) {
    this.#handlers.get(event)?.delete(handler);
  }

  emit(event, ...args) {
    const set = this.#handlers.get(event);
    if (!set) return;
    for (const handler of [...set]) {
      try {
        handler(...args);
      } catch (err) {
        console.error(`parley: a "${event}" handler failed`, err);
      }
    }
  }
}
