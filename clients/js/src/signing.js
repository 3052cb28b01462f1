// Signed messages (docs/api.md "Signed messages"): in a room created with
// require_signatures, each message carries a base64 Ed25519 signature, made with the key the
// member registered at join, over the UTF-8 bytes of
//   parley-message-v1\n<room_id>\n<sender_id>\n<client_msg_id>\n<text>
// followed by \n<media> when the message carries an image (its content id).
// A Signer holds one Ed25519 key pair of WebCrypto (crypto.subtle); its private key may be
// non-extractable (a browser can keep such a CryptoKeyPair in IndexedDB).
export function canonicalMessage(roomId, senderId, clientMsgId, text, media) {
  const base = `parley-message-v1\n${roomId}\n${senderId}\n${clientMsgId}\n${text}`;
  return media ? `${base}\n${media}` : base;
}

export function bytesToBase64(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = "";
  for (let i = 0; i < u8.length; i += 0x8000) binary += String.fromCharCode(...u8.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function base64ToBytes(text) {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function subtle() {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error("WebCrypto (crypto.subtle) is not available: a secure context (https or localhost) is needed");
  return s;
}

export class Signer {
  constructor(keyPair, publicKeyRaw) {
    this.keyPair = keyPair;
    this.publicKeyRaw = publicKeyRaw; // Uint8Array(32)
  }

  // A new key pair; the private key is not extractable unless asked for.
  static async generate({ extractable = false } = {}) {
    const keyPair = await subtle().generateKey({ name: "Ed25519" }, extractable, ["sign", "verify"]);
    return Signer.fromKeyPair(keyPair);
  }

  static async fromKeyPair(keyPair) {
    const raw = new Uint8Array(await subtle().exportKey("raw", keyPair.publicKey));
    return new Signer(keyPair, raw);
  }

  // The public key as the server wants it at join: base64 of the 32 raw bytes.
  get publicKey() {
    return bytesToBase64(this.publicKeyRaw);
  }

  async sign(text) {
    const data = new TextEncoder().encode(text);
    return bytesToBase64(new Uint8Array(await subtle().sign({ name: "Ed25519" }, this.keyPair.privateKey, data)));
  }

  signMessage(roomId, senderId, clientMsgId, text, media) {
    return this.sign(canonicalMessage(roomId, senderId, clientMsgId, text, media));
  }
}

// Checks a message's signature against a member's registered public key (base64).
export async function verifyMessage(message, publicKeyBase64) {
  if (!message.signature || !publicKeyBase64) return false;
  try {
    const key = await subtle().importKey("raw", base64ToBytes(publicKeyBase64), { name: "Ed25519" }, false, ["verify"]);
    const data = new TextEncoder().encode(canonicalMessage(message.room_id, message.sender_id, message.client_msg_id, message.text, message.media));
    return await subtle().verify({ name: "Ed25519" }, key, base64ToBytes(message.signature), data);
  } catch {
    return false;
  }
}
