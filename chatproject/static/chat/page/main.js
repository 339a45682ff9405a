/**
 * The browser chat page, on top of the reusable client (../chat-client.js).
 * This module owns the page's actions (show, join, leave, close, delete) and
 * turns the client's events into changes of the PageState and its panels.
 */
import { ChatClient } from "../chat-client.js";
import { DirectPanel } from "./direct-panel.js";
import { byId, errorText, flasher } from "./dom.js";
import { RoomPanel } from "./room-panel.js";
import { fetchRooms, RoomsList } from "./rooms-list.js";
import { PageState } from "./state.js";

class ChatPage {
  constructor(app, client) {
    this.client = client;
    this.roomsUrl = app.dataset.roomsUrl;
    this.state = new PageState({ me: app.dataset.user, roomsManagement: app.dataset.roomsManagement === "true" });
    this.status = byId("conn-status");
    this.welcome = byId("welcome");
    this.flash = flasher(byId("flash"));
    this.roomsList = new RoomsList({
      state: this.state,
      list: byId("room-list"),
      empty: byId("rooms-empty"),
      onOpen: (name) => this.openRoom(name),
      onDelete: (name) => this.deleteRoom(name),
    });
    if (byId("dm-panel")) {
      this.state.direct = new DirectPanel({ client, me: this.state.me, flash: this.flash, onOpen: () => this.show(this.state.direct) });
    }
    byId("rooms-refresh").addEventListener("click", () => this.loadRooms());
    const createForm = byId("room-create");
    if (createForm) {
      createForm.addEventListener("submit", (event) => {
        event.preventDefault();
        this.createRoom();
      });
    }
  }

  /* ---------- connection and the room list ---------- */

  setStatus(state, text) {
    this.status.dataset.state = state;
    this.status.textContent = text;
    this.state.online = state === "online";
    for (const panel of this.state.panels()) panel.setOnline(this.state.online);
  }

  async loadRooms() {
    try {
      this.state.setAvailable(await fetchRooms(this.roomsUrl));
    } catch (err) {
      this.flash(`Could not load the room list: ${errorText(err)}`);
      return;
    }
    this.roomsList.render();
  }

  async createRoom() {
    const input = byId("room-create-name");
    const name = input.value.trim();
    if (!name) {
      this.flash("Enter a room name.");
      input.focus();
      return;
    }
    try {
      await this.client.call("roomCreate", name, byId("room-create-whitelist").checked);
    } catch (err) {
      this.flash(`Could not create room ${name}: ${errorText(err)}`);
      input.focus();
      return;
    }
    input.value = "";
    await this.loadRooms();
    await this.joinRoom(name);
  }

  async deleteRoom(name) {
    if (!window.confirm(`Delete room ${name} and its history for everybody?`)) return;
    try {
      await this.client.call("roomDelete", name);
    } catch (err) {
      this.flash(`Could not delete room ${name}: ${errorText(err)}`);
      return;
    }
    this.closeRoom(name);
    this.flash(`Room ${name} was deleted.`);
    await this.loadRooms();
  }

  /* ---------- panels ---------- */

  /** Show one panel (a RoomPanel or the DirectPanel) and hide the others. */
  show(panel) {
    this.state.active = panel;
    for (const other of this.state.panels()) if (other !== panel) other.hide();
    this.welcome.hidden = true;
    panel.show();
    this.roomsList.render();
  }

  openRoom(name) {
    const panel = this.state.rooms.get(name);
    if (panel) this.show(panel);
    else this.joinRoom(name);
  }

  async joinRoom(name, { activate = true } = {}) {
    const existing = this.state.rooms.get(name);
    if (existing && !existing.removed) {
      if (activate) this.show(existing);
      return;
    }
    if (existing) this.closeRoom(name, { quiet: true });
    const panel = new RoomPanel(name, {
      template: byId("room-template"),
      container: byId("room-panels"),
      me: this.state.me,
      onLeave: (p) => (p.removed ? this.closeRoom(p.name) : this.leaveRoom(p.name)),
      onSend: (p, text) => this.client.send(p.name, text),
    });
    panel.setOnline(this.state.online);
    this.state.rooms.set(name, panel);
    if (activate) this.show(panel);
    let history;
    try {
      ({ history } = await this.client.join(name));
    } catch (err) {
      if (this.state.rooms.get(name) === panel) this.closeRoom(name, { quiet: true });
      this.flash(`Could not join ${name}: ${errorText(err)}`);
      return;
    }
    if (this.state.rooms.get(name) !== panel) return;
    panel.showHistory(history);
    this.roomsList.render();
    this.loadUserlist(panel);
  }

  async loadUserlist(panel) {
    try {
      const info = await this.client.call("roomNotificationsInfo", panel.name);
      const users = await this.client.call("roomGetAccessList", panel.name, "userlist");
      if (!panel.removed) panel.setUsers(users, info.enableUserlistUpdates);
    } catch (err) {
      if (!panel.removed) panel.userlistFailed(err);
    }
  }

  async leaveRoom(name, { broadcast = true } = {}) {
    try {
      await this.client.leave(name);
    } catch (err) {
      this.flash(`Could not leave ${name}: ${errorText(err)}`);
      return;
    }
    this.closeRoom(name);
    // Tell this user's other tabs, so that they leave too (systemMessage goes to them only).
    if (broadcast) this.client.call("systemMessage", { chatPage: "leave", room: name }).catch(() => {});
  }

  /** Remove a room's panel; `quiet` keeps the focus where it is. */
  closeRoom(name, { quiet = false } = {}) {
    const panel = this.state.rooms.get(name);
    if (!panel) return;
    const wasActive = this.state.isActive(panel);
    panel.destroy();
    this.state.rooms.delete(name);
    if (wasActive) {
      this.state.active = null;
      this.welcome.hidden = false;
    }
    this.roomsList.render();
    if (wasActive && !quiet) byId("room-list").querySelector(".room-button")?.focus();
  }

  accessLost(name, reason) {
    const panel = this.state.rooms.get(name);
    this.flash(`${reason} (${name}).`);
    if (panel) panel.loseAccess(reason);
    this.loadRooms();
  }

  /* ---------- the client's events ---------- */

  listen() {
    const { client, state } = this;
    client.on("connected", ({ reconnected }) => {
      this.setStatus("online", "Connected");
      if (reconnected) this.loadRooms();
      if (state.direct) state.direct.loadSettings();
    });
    client.on("rejoined", () => this.setStatus("online", "Connected"));
    client.on("disconnected", ({ code, willReconnect, delay }) => {
      if (willReconnect) this.setStatus("offline", `Connection lost (${code}); reconnecting in ${Math.ceil(delay / 1000)} s…`);
      else if (code === 4403) this.setStatus("offline", "Login rejected: please log in again.");
      else this.setStatus("offline", "Disconnected by the server. Reload the page to reconnect.");
    });
    client.on("loginRejected", (err) => this.flash(`Login rejected: ${errorText(err)}`));
    client.on("error", (err) => console.error(err));

    const live = (room) => {
      const panel = state.rooms.get(room);
      return panel && !panel.removed ? panel : null;
    };
    client.on("roomMessage", (room, message) => {
      const panel = live(room);
      if (!panel) return;
      panel.addMessage(message);
      if (!state.isActive(panel)) {
        panel.unread += 1;
        this.roomsList.render();
      }
    });
    client.on("roomUserJoined", (room, user) => live(room)?.userJoined(user));
    client.on("roomUserLeft", (room, user) => live(room)?.userLeft(user));
    client.on("roomAccessRemoved", (room) => this.accessLost(room, "You lost access to this room"));
    client.on("rejoinFailed", (room, err) => this.accessLost(room, `Could not re-join: ${errorText(err)}`));
    for (const [event, verb] of [["roomAccessListAdded", "added to"], ["roomAccessListRemoved", "removed from"]]) {
      client.on(event, (room, list, users) => live(room)?.addSystem(`${users.join(", ")} ${verb} the ${list}`));
    }
    client.on("roomModeChanged", (room, mode) => {
      live(room)?.addSystem(mode ? "The room is now whitelist only" : "The room is now open");
      this.loadRooms();
    });
    // Several tabs of one user stay in step: a join in one tab joins the others.
    client.on("roomJoinedEcho", (room) => {
      if (!live(room)) this.joinRoom(room, { activate: state.active === null });
    });
    // A leave of this very socket done by the server; other tabs' leaves come as systemMessage.
    client.on("roomLeftEcho", (room, id) => {
      if (id === client.socketId) this.closeRoom(room, { quiet: true });
    });
    client.on("systemMessage", (data) => {
      if (!data || data.chatPage !== "leave" || typeof data.room !== "string" || !state.rooms.has(data.room)) return;
      if (live(data.room)) this.leaveRoom(data.room, { broadcast: false });
      else this.closeRoom(data.room, { quiet: true });
    });

    if (state.direct) {
      const direct = state.direct;
      client.on("directMessage", (message) => {
        direct.add(message, message.author, false);
        if (!state.isActive(direct)) direct.setUnread(direct.unread + 1);
      });
      client.on("directMessageEcho", (toUser, message) => direct.add(message, toUser, true));
    }
  }

  start() {
    this.listen();
    this.loadRooms();
    this.client.connect().catch((err) => this.flash(`Could not connect: ${errorText(err)}`));
  }
}

const wsScheme = location.protocol === "https:" ? "wss" : "ws";
const client = new ChatClient(`${wsScheme}://${location.host}/ws/chat/`);
window.chatClient = client; // handy in the browser console
new ChatPage(byId("chat-app"), client).start();
