'use strict'
// A driver of real socket.io clients for the end-to-end tests
// (tests/e2e/socketio_clients.py runs it).
//
//   node client.js 1|2|4
//
// Loads socket.io-client 1.x, 2.x or 4.x (package.json here pins them) and reads
// one JSON command per line from stdin:
//   {"op": "connect", "socket": NAME, "url": ".../chat-service", "options": {...}}
//   {"op": "emit", "socket": NAME, "event": E, "args": [...], "ack": TAG}  (no "ack": no callback;
//        an argument {"$buffer": BASE64} is sent as binary)
//   {"op": "transport", "socket": NAME}   reports the engine's current transport
//   {"op": "close", "socket": NAME}
// and prints one JSON line per observed event:
//   {"socket": NAME, "type": "event", "event": E, "args": [...], "nargs": N}
//   {"socket": NAME, "type": "ack", "ack": TAG, "args": [...], "nargs": N}
//   {"socket": NAME, "type": "open" | "upgrade" | "transport", "transport": "polling" | "websocket"}
//   {"socket": NAME, "type": "connect" | "disconnect" | "connect_error", ...}
//   {"socket": NAME, "type": "heartbeat", "at": MS}   a completed Engine.IO ping/pong
// "open" is the Engine.IO connection opening, with its first transport.
// "nargs" is the number of arguments the listener received: JSON turns an
// undefined argument into null, the count keeps it visible.
// Reconnection is off, so a server-side disconnect stays visible.

const readline = require('readline')

// socket.io-client by major version (npm aliases in package.json).
const CLIENTS = {
  1: () => require('sio1'),
  2: () => require('sio2'),
  4: () => require('sio4').io
}
const generation = process.argv[2]
if (!CLIENTS[generation]) {
  process.stderr.write('usage: node client.js 1|2|4\n')
  process.exit(2)
}
const io = CLIENTS[generation]()

// Every notification of the service (spec: commands.md 5.1).
const NOTIFICATIONS = [
  'loginConfirmed', 'loginRejected', 'socketConnectEcho', 'socketDisconnectEcho',
  'directMessage', 'directMessageEcho', 'systemMessage', 'roomMessage',
  'roomJoinedEcho', 'roomLeftEcho', 'roomUserJoined', 'roomUserLeft',
  'roomAccessRemoved', 'roomAccessListAdded', 'roomAccessListRemoved', 'roomModeChanged'
]

const sockets = new Map()

function report (record) {
  process.stdout.write(JSON.stringify(record) + '\n')
}

function errorText (error) {
  return error && error.message ? error.message : String(error)
}

function connect ({ socket: name, url, options }) {
  const socket = io(url, { forceNew: true, reconnection: false, ...options })
  sockets.set(name, socket)
  for (const event of NOTIFICATIONS) {
    socket.on(event, (...args) => report({ socket: name, type: 'event', event, args, nargs: args.length }))
  }
  socket.on('connect', () => report({ socket: name, type: 'connect', transport: socket.io.engine.transport.name }))
  socket.on('disconnect', reason => report({ socket: name, type: 'disconnect', reason }))
  socket.on('connect_error', error => report({ socket: name, type: 'connect_error', error: errorText(error) }))
  socket.io.on('open', () => {
    report({ socket: name, type: 'open', transport: socket.io.engine.transport.name })
    socket.io.engine.on('upgrade', transport => report({ socket: name, type: 'upgrade', transport: transport.name }))
    // 'pong': in 2.x the server answered the client's ping (Engine.IO 3),
    // in 4.x the client answered the server's ping (Engine.IO 4).
    socket.io.engine.on('pong', () => report({ socket: name, type: 'heartbeat', at: Date.now() }))
  })
}

// An argument {"$buffer": BASE64} is sent as a Buffer: the client makes the
// event a binary one (BINARY_EVENT with an attachment).
function decodeArg (arg) {
  const isBuffer = arg !== null && typeof arg === 'object' && Object.keys(arg).length === 1 && '$buffer' in arg
  return isBuffer ? Buffer.from(arg.$buffer, 'base64') : arg
}

function emit ({ socket: name, event, args, ack }) {
  const socket = sockets.get(name)
  const sent = args.map(decodeArg)
  if (ack === undefined) {
    socket.emit(event, ...sent)
  } else {
    socket.emit(event, ...sent, (...ackArgs) => report({ socket: name, type: 'ack', ack, args: ackArgs, nargs: ackArgs.length }))
  }
}

function transport ({ socket: name }) {
  const engine = sockets.get(name).io.engine
  report({ socket: name, type: 'transport', transport: engine ? engine.transport.name : null })
}

function close ({ socket: name }) {
  sockets.get(name).close()
}

const OPS = { connect, emit, transport, close }

readline.createInterface({ input: process.stdin }).on('line', line => {
  let command
  try {
    command = JSON.parse(line)
    if (!OPS[command.op]) throw new Error(`unknown op ${command.op}`)
    if (command.op !== 'connect' && !sockets.has(command.socket)) throw new Error(`unknown socket ${command.socket}`)
    OPS[command.op](command)
  } catch (error) {
    report({ type: 'driver_error', error: errorText(error), line })
  }
}).on('close', () => {
  for (const socket of sockets.values()) socket.close()
  process.exit(0)
})
