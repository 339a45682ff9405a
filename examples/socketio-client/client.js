// The client of the original chat-service README ("Quickstart with socket.io"),
// unchanged but for the URL: the server is this project's daphne
// (scripts/run listens on 127.0.0.1:8000; CHAT_URL points elsewhere).
// Run the server with the hooks of readme_hooks.py first (README.md here).

const io = require('socket.io-client')

// Use https or wss in production.
let url = process.env.CHAT_URL || 'ws://127.0.0.1:8000/chat-service'
let userName = 'user' // for example and debug
let token = 'token' // auth token
let query = `userName=${userName}&token=${token}`
let opts = { query }

// Connect to a server.
let socket = io.connect(url, opts)

// Rooms messages handler (own messages are here too).
socket.on('roomMessage', (room, msg) => {
  console.log(`${msg.author}: ${msg.textMessage}`)
})

// Auth success handler.
socket.on('loginConfirmed', userName => {
  // Join room named 'default'.
  socket.emit('roomJoin', 'default', (error, data) => {
    // Check for a command error.
    if (error) { return }
    // Now we will receive 'default' room messages in 'roomMessage' handler.
    // Now we can also send a message to 'default' room:
    socket.emit('roomMessage', 'default', { textMessage: 'Hello!' })
  })
})

// Auth error handler.
socket.on('loginRejected', error => {
  console.error(error)
})
