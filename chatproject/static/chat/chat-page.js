/**
 * The browser chat page, on top of chat-client.js. Every piece of user data
 * (names, messages) reaches the DOM through textContent, never as HTML.
 */
import { ChatClient } from "./chat-client.js";

const app = document.getElementById("chat-app");
const me = app.dataset.user;
const roomsUrl = app.dataset.roomsUrl;
let roomsManagement = app.dataset.roomsManagement === "true";
let directMessages = app.dataset.directMessages === "true";

const $ = (id) => document.getElementById(id);
const statusEl = $("conn-status");
const flashEl = $("flash");
const roomListEl = $("room-list");
const panelsEl = $("room-panels");
const roomTemplate = $("room-template");

const wsScheme = location.protocol === "https:" ? "wss" : "ws";
const client = new ChatClient(`${wsScheme}://${location.host}/ws/chat/`);
window.chatClient = client; // handy in the browser console

const available = new Map(); // room name -> {name, owner, whitelistOnly}
const panels = new Map(); // room name -> panel (joined, or showing a loss of access)
let active = null; // room name, "dm", or null
let panelCount = 0;
let dmUnread = 0;

/* ---------- small helpers ---------- */

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("aria-") || key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

function errorText(err) {
  return err && err.message ? err.message : String(err);
}

let flashTimer = null;
function flash(text) {
  flashEl.textContent = text;
  flashEl.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => {
    flashEl.hidden = true;
  }, 8000);
}

function timeOf(ms) {
  const date = new Date(ms);
  return el("time", { dateTime: date.toISOString(), text: date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) });
}

/** One message as a list item; the text always goes in as textContent. */
function messageItem(message, prefix) {
  const text = typeof message.textMessage === "string" ? message.textMessage : JSON.stringify(message);
  const item = el("li", { class: "message" });
  if (Number.isInteger(message.id)) item.dataset.id = String(message.id);
  const head = el("div", { class: "meta" });
  head.append(el("span", { class: "author", text: prefix || String(message.author ?? "server") }));
  if (Number.isInteger(message.timestamp)) head.append(" ", timeOf(message.timestamp));
  item.append(head, el("p", { class: "text", text }));
  return item;
}

function systemItem(text) {
  return el("li", { class: "system", text });
}

function appendTo(log, item) {
  const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 40;
  const id = Number(item.dataset.id);
  let before = null;
  if (item.dataset.id) {
    // keep room messages in id order even when a catch-up arrives late
    for (let node = log.lastElementChild; node; node = node.previousElementSibling) {
      if (!node.dataset.id) continue;
      if (Number(node.dataset.id) > id) before = node;
      else break;
    }
  }
  log.insertBefore(item, before);
  if (stick) log.scrollTop = log.scrollHeight;
}

/* ---------- connection status ---------- */

function setStatus(state, text) {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
  for (const panel of panels.values()) updateCompose(panel);
  const dmForm = $("dm-form");
  if (dmForm) dmForm.querySelector("button").disabled = state !== "online";
}

client.on("connected", ({ reconnected }) => {
  setStatus("online", "Connected");
  if (reconnected) loadRooms();
  loadDirectSettings();
});

client.on("rejoined", () => setStatus("online", "Connected"));

client.on("disconnected", ({ code, willReconnect, delay }) => {
  if (willReconnect) {
    setStatus("offline", `Connection lost (${code}); reconnecting in ${Math.ceil(delay / 1000)} s…`);
  } else if (code === 4403) {
    setStatus("offline", "Login rejected: please log in again.");
  } else {
    setStatus("offline", "Disconnected by the server. Reload the page to reconnect.");
  }
});

client.on("loginRejected", (err) => flash(`Login rejected: ${errorText(err)}`));
client.on("error", (err) => console.error(err));

/* ---------- the room list ---------- */

async function loadRooms() {
  let data;
  try {
    const response = await fetch(roomsUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    data = await response.json();
    if (!response.ok) throw new Error(data.message || `HTTP ${response.status}`);
  } catch (err) {
    flash(`Could not load the room list: ${errorText(err)}`);
    return;
  }
  roomsManagement = data.enableRoomsManagement;
  directMessages = data.enableDirectMessages;
  available.clear();
  for (const room of data.rooms) available.set(room.name, room);
  renderRoomList();
}

function renderRoomList() {
  const names = new Set([...available.keys(), ...panels.keys()]);
  const sorted = [...names].sort();
  roomListEl.replaceChildren();
  $("rooms-empty").hidden = sorted.length > 0;
  for (const name of sorted) {
    const info = available.get(name) || { name, owner: null, whitelistOnly: false };
    const panel = panels.get(name);
    const joined = panel && !panel.removed;
    const button = el("button", { type: "button", class: "room-button", "data-room": name });
    button.append(el("span", { class: "room-name", text: name }));
    const details = [];
    if (joined) details.push("joined");
    if (panel && panel.removed) details.push("access lost");
    if (info.whitelistOnly) details.push("whitelist only");
    if (info.owner === me) details.push("yours");
    if (details.length) button.append(el("span", { class: "room-meta", text: details.join(" · ") }));
    if (panel && panel.unread) {
      button.append(el("span", { class: "badge", text: String(panel.unread), "aria-label": `${panel.unread} unread` }));
    }
    if (active === name) button.setAttribute("aria-current", "true");
    button.addEventListener("click", () => (panel ? showPanel(name) : joinRoom(name)));
    const item = el("li", {}, button);
    if (roomsManagement && info.owner === me) {
      const del = el("button", { type: "button", class: "danger small", text: "Delete", "aria-label": `Delete room ${name}` });
      del.addEventListener("click", () => deleteRoom(name));
      item.append(del);
    }
    roomListEl.append(item);
  }
}

$("rooms-refresh").addEventListener("click", loadRooms);

const createForm = $("room-create");
if (createForm) {
  createForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("room-create-name");
    const name = input.value.trim();
    if (!name) {
      flash("Enter a room name.");
      input.focus();
      return;
    }
    try {
      await client.call("roomCreate", name, $("room-create-whitelist").checked);
    } catch (err) {
      flash(`Could not create room ${name}: ${errorText(err)}`);
      input.focus();
      return;
    }
    input.value = "";
    await loadRooms();
    await joinRoom(name);
  });
}

async function deleteRoom(name) {
  if (!window.confirm(`Delete room ${name} and its history for everybody?`)) return;
  try {
    await client.call("roomDelete", name);
  } catch (err) {
    flash(`Could not delete room ${name}: ${errorText(err)}`);
    return;
  }
  closePanel(name);
  flash(`Room ${name} was deleted.`);
  await loadRooms();
}

/* ---------- room panels ---------- */

function createPanel(name) {
  const fragment = roomTemplate.content.cloneNode(true);
  const root = fragment.querySelector(".room-panel");
  const n = ++panelCount;
  const panel = {
    name,
    root,
    title: root.querySelector(".room-title"),
    notice: root.querySelector(".notice"),
    log: root.querySelector(".messages"),
    userlist: root.querySelector(".userlist"),
    userlistNote: root.querySelector(".userlist-note"),
    form: root.querySelector(".compose"),
    input: root.querySelector(".msg-input"),
    leave: root.querySelector(".leave"),
    users: new Set(),
    live: false,
    unread: 0,
    removed: false,
    ready: false,
  };
  root.id = `room-panel-${n}`;
  panel.title.id = `room-title-${n}`;
  panel.title.textContent = name;
  root.setAttribute("aria-labelledby", panel.title.id);
  panel.log.setAttribute("aria-label", `Messages in ${name}`);
  panel.input.id = `msg-input-${n}`;
  root.querySelector(".msg-label").htmlFor = panel.input.id;
  panel.leave.setAttribute("aria-label", `Leave room ${name}`);
  panel.leave.addEventListener("click", () => (panel.removed ? closePanel(name) : leaveRoom(name)));
  panel.form.addEventListener("submit", (event) => {
    event.preventDefault();
    sendMessage(panel);
  });
  panelsEl.append(root);
  return panel;
}

function updateCompose(panel) {
  const online = statusEl.dataset.state === "online";
  const button = panel.form.querySelector("button");
  button.disabled = !online || panel.removed || !panel.ready;
  panel.input.disabled = panel.removed;
}

function showPanel(name) {
  active = name;
  for (const [other, panel] of panels) panel.root.hidden = other !== name;
  const dmPanel = $("dm-panel");
  if (dmPanel) dmPanel.hidden = name !== "dm";
  $("welcome").hidden = name !== null;
  const panel = panels.get(name);
  if (panel) {
    panel.unread = 0;
    panel.log.scrollTop = panel.log.scrollHeight;
    (panel.removed ? panel.leave : panel.input).focus();
  } else if (name === "dm") {
    dmUnread = 0;
    $("dm-unread").hidden = true;
    $("dm-title").focus();
  }
  renderRoomList();
}

async function joinRoom(name, { activate = true } = {}) {
  const existing = panels.get(name);
  if (existing && !existing.removed) {
    if (activate) showPanel(name);
    return;
  }
  if (existing) closePanel(name, { quiet: true });
  const panel = createPanel(name);
  panels.set(name, panel);
  updateCompose(panel);
  if (activate) showPanel(name);
  let history;
  try {
    ({ history } = await client.join(name));
  } catch (err) {
    if (panels.get(name) === panel) closePanel(name, { quiet: true });
    flash(`Could not join ${name}: ${errorText(err)}`);
    return;
  }
  if (panels.get(name) !== panel) return;
  for (const message of history) appendTo(panel.log, messageItem(message));
  if (!history.length) panel.log.append(systemItem("No messages yet."));
  panel.ready = true;
  updateCompose(panel);
  renderRoomList();
  loadUserlist(panel);
}

async function loadUserlist(panel) {
  try {
    const info = await client.call("roomNotificationsInfo", panel.name);
    panel.live = info.enableUserlistUpdates;
    const users = await client.call("roomGetAccessList", panel.name, "userlist");
    panel.users = new Set(users);
  } catch (err) {
    panel.userlistNote.textContent = `Could not read the userlist: ${errorText(err)}`;
    panel.userlistNote.hidden = false;
    return;
  }
  panel.userlistNote.hidden = panel.live;
  renderUserlist(panel);
}

function renderUserlist(panel) {
  panel.userlist.replaceChildren(
    ...[...panel.users].sort().map((user) => el("li", { text: user === me ? `${user} (you)` : user })),
  );
}

async function leaveRoom(name, { broadcast = true } = {}) {
  try {
    await client.leave(name);
  } catch (err) {
    flash(`Could not leave ${name}: ${errorText(err)}`);
    return;
  }
  closePanel(name);
  // Tell this user's other tabs, so that they leave too (systemMessage goes to them only).
  if (broadcast) client.call("systemMessage", { chatPage: "leave", room: name }).catch(() => {});
}

function closePanel(name, { quiet = false } = {}) {
  const panel = panels.get(name);
  if (!panel) return;
  panel.root.remove();
  panels.delete(name);
  if (active === name) {
    active = null;
    $("welcome").hidden = false;
    if (!quiet) {
      const button = roomListEl.querySelector(".room-button");
      if (button) button.focus();
    }
  }
  renderRoomList();
}

async function sendMessage(panel) {
  const text = panel.input.value;
  if (!text.trim()) {
    panel.input.focus();
    return;
  }
  const button = panel.form.querySelector("button");
  button.disabled = true;
  try {
    await client.send(panel.name, text);
    panel.input.value = "";
    panel.notice.hidden = true;
  } catch (err) {
    panel.notice.textContent = `Not sent: ${errorText(err)}`;
    panel.notice.hidden = false;
  } finally {
    updateCompose(panel);
    panel.input.focus();
  }
}

function accessLost(name, reason) {
  const panel = panels.get(name);
  flash(`${reason} (${name}).`);
  if (panel) {
    panel.removed = true;
    panel.notice.textContent = `${reason}. You can no longer read or post here.`;
    panel.notice.hidden = false;
    panel.leave.textContent = "Close";
    panel.leave.setAttribute("aria-label", `Close room ${name}`);
    panel.root.classList.add("removed");
    updateCompose(panel);
  }
  loadRooms();
}

/* ---------- notifications ---------- */

client.on("roomMessage", (room, message) => {
  const panel = panels.get(room);
  if (!panel || panel.removed) return;
  const placeholder = panel.log.querySelector(".system:only-child");
  if (placeholder) placeholder.remove();
  appendTo(panel.log, messageItem(message));
  if (active !== room) {
    panel.unread += 1;
    renderRoomList();
  }
});

client.on("roomUserJoined", (room, user) => {
  const panel = panels.get(room);
  if (!panel) return;
  panel.users.add(user);
  renderUserlist(panel);
  appendTo(panel.log, systemItem(`${user} joined`));
});

client.on("roomUserLeft", (room, user) => {
  const panel = panels.get(room);
  if (!panel) return;
  panel.users.delete(user);
  renderUserlist(panel);
  appendTo(panel.log, systemItem(`${user} left`));
});

client.on("roomAccessRemoved", (room) => accessLost(room, "You lost access to this room"));

client.on("rejoinFailed", (room, err) => accessLost(room, `Could not re-join: ${errorText(err)}`));

for (const [event, verb] of [["roomAccessListAdded", "added to"], ["roomAccessListRemoved", "removed from"]]) {
  client.on(event, (room, list, users) => {
    const panel = panels.get(room);
    if (panel) appendTo(panel.log, systemItem(`${users.join(", ")} ${verb} the ${list}`));
  });
}

client.on("roomModeChanged", (room, mode) => {
  const panel = panels.get(room);
  if (panel) appendTo(panel.log, systemItem(mode ? "The room is now whitelist only" : "The room is now open"));
  loadRooms();
});

// Several tabs of one user stay consistent: a join in one tab joins the others.
client.on("roomJoinedEcho", (room) => {
  const panel = panels.get(room);
  if (!panel || panel.removed) joinRoom(room, { activate: active === null });
});

// A leave of this very socket done by the server; other tabs' leaves come as systemMessage.
client.on("roomLeftEcho", (room, id) => {
  if (id === client.socketId) closePanel(room, { quiet: true });
});

client.on("systemMessage", (data) => {
  if (data && data.chatPage === "leave" && typeof data.room === "string" && panels.has(data.room)) {
    if (panels.get(data.room).removed) closePanel(data.room, { quiet: true });
    else leaveRoom(data.room, { broadcast: false });
  }
});

/* ---------- direct messages ---------- */

function addDirect(message, counterpart, outgoing) {
  const log = $("dm-log");
  if (!log) return;
  const prefix = outgoing ? `${me} → ${counterpart}` : `${message.author} → ${me}`;
  appendTo(log, messageItem(message, prefix));
  if (!outgoing && active !== "dm") {
    dmUnread += 1;
    const badge = $("dm-unread");
    badge.textContent = String(dmUnread);
    badge.setAttribute("aria-label", `${dmUnread} unread`);
    badge.hidden = false;
  }
}

client.on("directMessage", (message) => addDirect(message, message.author, false));
client.on("directMessageEcho", (toUser, message) => addDirect(message, toUser, true));

async function loadDirectSettings() {
  if (!$("dm-panel")) return;
  try {
    const [mode, blacklist, whitelist] = await Promise.all([
      client.call("directGetWhitelistMode"),
      client.call("directGetAccessList", "blacklist"),
      client.call("directGetAccessList", "whitelist"),
    ]);
    $("dm-whitelist-only").checked = mode;
    $("dm-blacklist").replaceChildren(...blacklist.sort().map((u) => el("li", { text: u })));
    $("dm-whitelist").replaceChildren(...whitelist.sort().map((u) => el("li", { text: u })));
  } catch (err) {
    flash(`Could not load your direct message settings: ${errorText(err)}`);
  }
}

if ($("dm-panel")) {
  $("dm-open").addEventListener("click", () => showPanel("dm"));

  $("dm-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const to = $("dm-to").value.trim();
    const input = $("dm-text");
    if (!to || !input.value.trim()) {
      flash("Enter a user name and a message.");
      (to ? input : $("dm-to")).focus();
      return;
    }
    try {
      const sent = await client.call("directMessage", to, { textMessage: input.value });
      addDirect(sent, to, true);
      input.value = "";
    } catch (err) {
      flash(`Not sent to ${to}: ${errorText(err)}`);
    }
    input.focus();
  });

  $("dm-whitelist-only").addEventListener("change", async (event) => {
    try {
      await client.call("directSetWhitelistMode", event.target.checked);
    } catch (err) {
      flash(`Could not change the mode: ${errorText(err)}`);
      event.target.checked = !event.target.checked;
    }
  });

  $("dm-list-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const user = $("dm-list-user").value.trim();
    const list = $("dm-list-name").value;
    const remove = event.submitter && event.submitter.value === "remove";
    if (!user) {
      flash("Enter a user name.");
      $("dm-list-user").focus();
      return;
    }
    try {
      await client.call(remove ? "directRemoveFromList" : "directAddToList", list, [user]);
      $("dm-list-user").value = "";
    } catch (err) {
      flash(`Could not change your ${list}: ${errorText(err)}`);
    }
    loadDirectSettings();
  });
}

/* ---------- start ---------- */

loadRooms();
client.connect().catch((err) => flash(`Could not connect: ${errorText(err)}`));
