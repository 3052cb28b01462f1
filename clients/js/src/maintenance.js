// Maintenance notices (docs/api.md "Maintenance"): the server tells every socket about the
// next planned restart or reboot of its host, and again when the notice is cleared. No
// subscription is needed; a socket that opens while a notice stands gets it at once.
//
//   const maintenance = new Maintenance(client);
//   maintenance.on("change", (notice) => ...);   // {at, action} or null
import { Emitter } from "./emitter.js";

export class Maintenance extends Emitter {
  #heardSinceOpen = false;

  constructor(client) {
    super();
    this.client = client;
    this.notice = null;
    client.on("maintenance", (f) => {
      this.#heardSinceOpen = true;
      this.#set(f.at == null ? null : { at: f.at, action: f.action ?? "restart" });
    });
    // A notice in force comes right after the handshake, before the socket counts as open: a
    // reconnect that heard none means the notice was cleared while the socket was down.
    client.on("disconnect", () => (this.#heardSinceOpen = false));
    client.on("reconnect", () => {
      if (!this.#heardSinceOpen) this.#set(null);
    });
  }

  #set(notice) {
    if (JSON.stringify(notice) === JSON.stringify(this.notice)) return;
    this.notice = notice;
    this.emit("change", notice);
  }
}
