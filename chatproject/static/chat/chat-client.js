/**
 * A small dependency-free client of the chat service's JSON-RPC 2.0
 * WebSocket protocol (docs/protocol.md). ES module; works in browsers and in any
 * runtime that has a WHATWG WebSocket.
 *
 *   const client = new ChatClient("ws://127.0.0.1:8000/ws/chat/");
 *   client.on("roomMessage", (room, msg) => ...);
 *   await client.connect();
 *   const { history } = await client.join("lobby");
 *   await client.call("roomMessage", "lobby", { textMessage: "hi" });
 *
 * The client reconnects with backoff after abnormal closes (for example
 * 1006, 1011, 4001), but not after 1000 (a normal close, e.g. the server
 * disconnected the user) or 4403 (login rejected). After reconnecting it
 * re-joins its rooms and fetches exactly the room messages it missed.
 */

/** Close codes after which the client does not reconnect. */
export const FINAL_CLOSE_CODES = Object.freeze([1000, 4403]);

/** A failed call: `code`, `message` and `data` of the protocol's error object. */
export class ChatError extends Error {
  constructor(error) {
    super(error && typeof error.message === "string" ? error.message : "Unknown error");
    this.name = "ChatError";
    this.code = error && error.code;
    this.data = error && error.data;
  }

  /** The chat-service error code (`data.code`), e.g. "noRoom". */
  get chatCode() {
    return this.data && this.data.code;
  }

  /** The protocol's error object. */
  toJSON() {
    return { code: this.code, message: this.message, data: this.data };
  }
}

function clientError(code, message, args = []) {
  return new ChatError({ code: -32000, message, data: { name: "ChatClientError", code, args } });
}

/** Per-room record of the message ids delivered, for gapless catch-up. */
class RoomTrack {
  constructor() {
    this.floor = 0; // every id <= floor was delivered (or is older than the join)
    this.seen = new Set(); // delivered ids above floor
    this.buffer = null; // live messages held while history is being fetched
  }

  /** The highest id delivered. */
  get highest() {
    let max = this.floor;
    for (const id of this.seen) if (id > max) max = id;
    return max;
  }

  /** Record `id`; false when it was already delivered. */
  accept(id) {
    if (!Number.isInteger(id)) return true; // no id: cannot deduplicate
    if (id <= this.floor || this.seen.has(id)) return false;
    this.seen.add(id);
    while (this.seen.has(this.floor + 1)) this.seen.delete(++this.floor);
    return true;
  }

  /** Everything up to `id` is delivered or lost for good. */
  raiseFloor(id) {
    if (id <= this.floor) return;
    this.floor = id;
    for (const seen of [...this.seen]) if (seen <= id) this.seen.delete(seen);
    while (this.seen.has(this.floor + 1)) this.seen.delete(++this.floor);
  }
}

const byId = (a, b) => (a.id ?? 0) - (b.id ?? 0);

export class ChatClient {
  /**
   * @param {string} url  WebSocket URL, e.g. "wss://host/ws/chat/".
   * @param {object} [options]
   * @param {boolean} [options.reconnect=true]  reconnect after abnormal closes
   * @param {number} [options.minDelay=500]     first reconnect delay, ms
   * @param {number} [options.maxDelay=15000]   largest reconnect delay, ms
   * @param {number} [options.callTimeout=30000] ms before a call fails with "callTimeout" (0: never)
   * @param {Function} [options.WebSocket]      WebSocket constructor to use
   */
  constructor(url, options = {}) {
    if (typeof url !== "string" || !url) throw new TypeError("ChatClient needs a WebSocket URL");
    this.url = url;
    this.options = { reconnect: true, minDelay: 500, maxDelay: 15000, callTimeout: 30000, ...options };
    this.WebSocket = this.options.WebSocket || globalThis.WebSocket;
    this.ws = null;
    this.userName = null;
    this.socketId = null;
    this.connected = false;
    this.rooms = new Map(); // room name -> RoomTrack
    this._handlers = new Map();
    this._pending = new Map();
    this._nextId = 1;
    this._attempt = 0;
    this._timer = null;
    this._stopped = true;
    this._waiters = [];
  }

  /** Subscribe to a server notification or a client event; returns an unsubscribe function. */
  on(name, handler) {
    if (typeof handler !== "function") throw new TypeError("handler must be a function");
    if (!this._handlers.has(name)) this._handlers.set(name, new Set());
    this._handlers.get(name).add(handler);
    return () => this.off(name, handler);
  }

  /** Remove a handler added with `on`. */
  off(name, handler) {
    const set = this._handlers.get(name);
    if (set) set.delete(handler);
  }

  _emit(name, ...args) {
    for (const handler of [...(this._handlers.get(name) || [])]) {
      try {
        handler(...args);
      } catch (err) {
        if (name !== "error") this._emit("error", err);
        else console.error(err);
      }
    }
  }

  /**
   * Open the connection. Resolves with `{userName, id}` once logged in
   * (retrying with backoff meanwhile); rejects with a ChatError on
   * loginRejected or on a close after which the client gives up.
   */
  connect() {
    if (this.connected) return Promise.resolve({ userName: this.userName, id: this.socketId });
    const promise = new Promise((resolve, reject) => this._waiters.push({ resolve, reject }));
    if (this._stopped || !this.ws) {
      this._stopped = false;
      clearTimeout(this._timer);
      this._open();
    }
    return promise;
  }

  _settleWaiters(error, value) {
    const waiters = this._waiters;
    this._waiters = [];
    for (const waiter of waiters) {
      if (error) waiter.reject(error);
      else waiter.resolve(value);
    }
  }

  /** Close with 1000 and stop reconnecting. Rooms are forgotten. */
  close() {
    this._stopped = true;
    clearTimeout(this._timer);
    this.rooms.clear();
    if (this.ws) this.ws.close(1000, "client closed");
  }

  _open() {
    if (this.ws) return;
    const ws = new this.WebSocket(this.url);
    this.ws = ws;
    ws.onmessage = (event) => this._onFrame(ws, event.data);
    ws.onclose = (event) => this._onClose(ws, event);
    ws.onerror = () => {}; // a close event follows
  }

  _onFrame(ws, data) {
    if (ws !== this.ws) return;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (err) {
      this._emit("error", new Error("Unparsable frame from server"));
      return;
    }
    for (const item of Array.isArray(msg) ? msg : [msg]) this._dispatch(item);
  }

  _dispatch(msg) {
    if (!msg || typeof msg !== "object") return;
    if (typeof msg.method === "string" && !("id" in msg)) {
      this._notification(msg.method, Array.isArray(msg.params) ? msg.params : []);
      return;
    }
    const pending = this._pending.get(msg.id);
    if (!pending) {
      if (msg.error) this._emit("error", new ChatError(msg.error));
      return;
    }
    this._pending.delete(msg.id);
    clearTimeout(pending.timer);
    if (msg.error) pending.reject(new ChatError(msg.error));
    else pending.resolve(msg.result === undefined ? null : msg.result);
  }

  _notification(method, params) {
    if (method === "loginConfirmed") {
      this._loggedIn(params[0], (params[1] || {}).id);
      return;
    }
    if (method === "loginRejected") {
      const error = new ChatError(params[0]);
      this._stopped = true; // the server closes with 4403; logging in again would fail the same way
      this._settleWaiters(error);
      this._emit("loginRejected", error);
      return;
    }
    if (method === "roomMessage") {
      this._roomMessage(params[0], params[1]);
      return;
    }
    if (method === "roomAccessRemoved") this.rooms.delete(params[0]);
    if (method === "roomLeftEcho" && params[1] === this.socketId) this.rooms.delete(params[0]);
    this._emit(method, ...params);
  }

  _roomMessage(room, message) {
    const track = this.rooms.get(room);
    if (track && track.buffer) {
      track.buffer.push(message);
      return;
    }
    if (track && message && !track.accept(message.id)) return; // duplicate
    this._emit("roomMessage", room, message);
  }

  async _loggedIn(userName, id) {
    const reconnected = this.userName !== null;
    this.userName = userName;
    this.socketId = id;
    this.connected = true;
    this._attempt = 0;
    this._settleWaiters(null, { userName, id });
    this._emit("connected", { userName, id, reconnected });
    if (reconnected && this.rooms.size) await this._rejoinAll();
  }

  _onClose(ws, event) {
    if (ws !== this.ws) return;
    const wasConnected = this.connected;
    this.connected = false;
    this.ws = null;
    const error = clientError("connectionClosed", `Connection closed (${event.code})`, [event.code]);
    for (const pending of this._pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this._pending.clear();
    const retry = this.options.reconnect && !this._stopped && !FINAL_CLOSE_CODES.includes(event.code);
    let delay = null;
    if (retry) {
      const base = Math.min(this.options.maxDelay, this.options.minDelay * 2 ** this._attempt);
      delay = Math.round(base / 2 + Math.random() * (base / 2));
      this._attempt += 1;
      this._timer = setTimeout(() => {
        if (!this._stopped) this._open();
      }, delay);
    } else {
      this._stopped = true;
      this._settleWaiters(error);
    }
    this._emit("disconnected", { code: event.code, reason: event.reason, wasConnected, willReconnect: retry, delay });
  }

  /**
   * Call a command; resolves with its result, rejects with a ChatError
   * (the protocol's error object: `code`, `message`, `data`).
   */
  call(method, ...params) {
    if (typeof method !== "string" || !method) {
      return Promise.reject(clientError("badMethod", "The command name must be a non-empty string"));
    }
    if (!this.connected || !this.ws) {
      return Promise.reject(clientError("notConnected", "Not connected to the chat server"));
    }
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const pending = { resolve, reject, timer: null };
      if (this.options.callTimeout > 0) {
        pending.timer = setTimeout(() => {
          this._pending.delete(id);
          reject(clientError("callTimeout", `No reply to ${method} within ${this.options.callTimeout} ms`, [method]));
        }, this.options.callTimeout);
      }
      this._pending.set(id, pending);
      try {
        this.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
      } catch (err) {
        this._pending.delete(id);
        clearTimeout(pending.timer);
        reject(clientError("sendFailed", String(err && err.message ? err.message : err)));
      }
    });
  }

  /**
   * Join a room and fetch its recent history. Resolves with
   * `{njoined, history}` (history oldest first). Live messages that arrive
   * meanwhile are delivered after it, without duplicates.
   */
  async join(room) {
    const known = this.rooms.get(room);
    const track = new RoomTrack();
    track.buffer = [];
    this.rooms.set(room, track);
    let njoined;
    let history;
    try {
      njoined = await this.call("roomJoin", room);
      const [info, recent] = await Promise.all([
        this.call("roomHistoryInfo", room),
        this.call("roomRecentHistory", room),
      ]);
      history = [...recent].sort(byId);
      track.raiseFloor(history.length ? history[history.length - 1].id : info.lastMessageId);
    } catch (err) {
      if (this.rooms.get(room) === track) {
        if (known) this.rooms.set(room, known);
        else this.rooms.delete(room);
      }
      throw err;
    }
    setTimeout(() => this._flush(room, track), 0); // after the caller has shown the history
    return { njoined, history };
  }

  /** Leave a room; resolves with the number of the user's sockets still joined. */
  async leave(room) {
    const njoined = await this.call("roomLeave", room);
    this.rooms.delete(room);
    return njoined;
  }

  /** Send a text message to a room; resolves with its id. */
  send(room, text) {
    return this.call("roomMessage", room, { textMessage: String(text) });
  }

  _flush(room, track) {
    const buffered = track.buffer || [];
    track.buffer = null;
    if (this.rooms.get(room) !== track) return;
    for (const message of buffered.sort(byId)) {
      if (message && track.accept(message.id)) this._emit("roomMessage", room, message);
    }
  }

  async _rejoinAll() {
    await Promise.all([...this.rooms.keys()].map((room) => this._rejoin(room)));
    this._emit("rejoined", [...this.rooms.keys()]);
  }

  /** Re-join one room after a reconnect and fetch the messages missed meanwhile. */
  async _rejoin(room) {
    const track = this.rooms.get(room);
    if (!track) return;
    track.buffer = track.buffer || [];
    try {
      await this.call("roomJoin", room);
      const info = await this.call("roomHistoryInfo", room);
      const limit = info.historyMaxGetMessages;
      let cursor = track.floor; // every id up to it was delivered
      while (limit > 0 && cursor < info.lastMessageId) {
        const page = (await this.call("roomHistoryGet", room, cursor, limit)).sort(byId);
        if (!page.length) break;
        for (const message of page) {
          if (this.rooms.get(room) === track && track.accept(message.id)) this._emit("roomMessage", room, message);
        }
        cursor = page[page.length - 1].id; // page on from the highest id received
      }
      this._flush(room, track);
      track.raiseFloor(info.lastMessageId); // anything older is delivered or gone from the history
    } catch (err) {
      track.buffer = null;
      if (err && err.chatCode === "connectionClosed") return; // kept: the next reconnect re-joins it
      if (this.rooms.get(room) === track) this.rooms.delete(room);
      this._emit("rejoinFailed", room, err);
    }
  }
}
