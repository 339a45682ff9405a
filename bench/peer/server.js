'use strict'
// The original chat-service 1.0.0 as the benchmark's peer: memory state,
// socket.io transport on 127.0.0.1:PORT, namespace '/chat-service'.
//
//   node server.js PORT HISTORY_MAX_SIZE ROOM...
//
// The service relies on an outside login, so the onConnect hook takes the
// user name from the handshake query (?user=NAME), like the Django service's
// allowQueryLogin. Prints "ready" once the rooms exist; SIGTERM or SIGINT
// closes the service as its README asks.

const http = require('http')
const ChatService = require('chat-service')

function usage (message) {
  process.stderr.write(`${message}\nusage: node server.js PORT HISTORY_MAX_SIZE ROOM...\n`)
  process.exit(2)
}

const [portArg, historyArg, ...rooms] = process.argv.slice(2)
const port = Number(portArg)
const historyMaxSize = Number(historyArg)
if (!Number.isInteger(port) || port < 1 || port > 65535) usage(`bad PORT: ${portArg}`)
if (!Number.isInteger(historyMaxSize) || historyMaxSize < 0) usage(`bad HISTORY_MAX_SIZE: ${historyArg}`)

function onConnect (service, id) {
  const { query } = service.transport.getHandshakeData(id)
  return Promise.resolve(query.user)
}

const httpServer = http.createServer()
const chatService = new ChatService(
  { historyMaxSize, transportOptions: { http: httpServer } },
  { onConnect })

chatService.on('closed', error => {
  if (error) process.stderr.write(`chat-service closed: ${error}\n`)
})

chatService.once('ready', () => {
  Promise.all(rooms.map(name => chatService.addRoom(name, {})))
    .then(() => {
      httpServer.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'))
    })
    .catch(error => {
      process.stderr.write(`cannot create the rooms: ${error}\n`)
      process.exit(1)
    })
})

function stop () {
  chatService.close().finally(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
