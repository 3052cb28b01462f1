// The reference the Parley fan-out and idle-socket benchmarks compare against: a minimal
// Node.js broadcast server on the `ws` package, speaking the subset of Parley's WebSocket
// protocol the load client uses (docs/api.md):
//   → {"type":"subscribe","topic":"room:<id>:chat","id":…}   ← {"type":"ok","id":…}
//   → {"type":"send","room_id","text","client_msg_id","id"}  ← {"type":"ok","id","seq"} to the
//     sender and {"type":"message","room_id","seq","sender_id","client_msg_id","text","sent_at"}
//     to every subscriber of the room (the sender included)
//   → {"type":"ping","id"}                                   ← {"type":"pong","id"}
// No accounts, no persistence: it is the floor a broadcast over `ws` costs.
// Usage: node broadcast-server.js <port>   (prints "listening <port>" when ready)
'use strict';

const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 8090);
const rooms = new Map();  // room id -> { seq, sockets: Set }
let nextSocket = 0;

const wss = new WebSocketServer({ port, host: '127.0.0.1', perMessageDeflate: false, clientTracking: false });

wss.on('connection', (ws) => {
  const sender = `s${++nextSocket}`;
  const joined = [];
  ws.on('message', (data) => {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (e) {
      ws.close(1003, 'not JSON');
      return;
    }
    if (msg.type === 'ping') {
      ws.send(JSON.stringify({ type: 'pong', id: msg.id }));
    } else if (msg.type === 'subscribe') {
      const m = /^room:(.+):chat$/.exec(msg.topic || '');
      if (!m) {
        ws.send(JSON.stringify({ type: 'error', id: msg.id, error: 'bad_request' }));
        return;
      }
      let room = rooms.get(m[1]);
      if (!room) {
        room = { seq: 0, sockets: new Set() };
        rooms.set(m[1], room);
      }
      room.sockets.add(ws);
      joined.push(room);
      ws.send(JSON.stringify({ type: 'ok', id: msg.id }));
    } else if (msg.type === 'send') {
      const room = rooms.get(msg.room_id);
      if (!room) {
        ws.send(JSON.stringify({ type: 'error', id: msg.id, error: 'not_found' }));
        return;
      }
      const seq = ++room.seq;
      const sentAt = Date.now();
      const out = JSON.stringify({
        type: 'message', room_id: msg.room_id, seq, sender_id: sender,
        client_msg_id: msg.client_msg_id, text: msg.text, sent_at: sentAt,
      });
      ws.send(JSON.stringify({ type: 'ok', id: msg.id, seq, sent_at: sentAt }));
      for (const peer of room.sockets) peer.send(out);
    }
  });
  ws.on('close', () => {
    for (const room of joined) room.sockets.delete(ws);
  });
  ws.on('error', () => {});
});

wss.on('listening', () => console.log(`listening ${port}`));
