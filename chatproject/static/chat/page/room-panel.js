/** One joined room's panel: its messages, its people and its message field. */
import { sendDraft } from "./compose.js";
import { el, errorText, messageItem, MessageLog, systemItem } from "./dom.js";

let panelCount = 0; // for unique element ids

export class RoomPanel {
  /**
   * @param {string} name  the room
   * @param {object} deps  `template` (the <template> to clone), `container`,
   *   `me` (the user's name), `onLeave(panel)`, `onSend(panel, text)` (a promise)
   */
  constructor(name, { template, container, me, onLeave, onSend }) {
    this.name = name;
    this.me = me;
    this.users = new Set();
    this.unread = 0;
    this.online = false; // the connection is up
    this.ready = false; // history shown: the field may send
    this.removed = false; // access lost: read only until closed
    const root = template.content.firstElementChild.cloneNode(true);
    const n = ++panelCount;
    this.root = root;
    this.title = root.querySelector(".room-title");
    this.notice = root.querySelector(".notice");
    this.log = new MessageLog(root.querySelector(".messages"));
    this.userlist = root.querySelector(".userlist");
    this.userlistNote = root.querySelector(".userlist-note");
    this.form = root.querySelector(".compose");
    this.input = root.querySelector(".msg-input");
    this.sendButton = this.form.querySelector("button");
    this.leaveButton = root.querySelector(".leave");

    root.id = `room-panel-${n}`;
    this.title.id = `room-title-${n}`;
    this.title.textContent = name;
    root.setAttribute("aria-labelledby", this.title.id);
    this.log.region.setAttribute("aria-label", `Messages in ${name}`);
    this.input.id = `msg-input-${n}`;
    root.querySelector(".msg-label").htmlFor = this.input.id;
    this.leaveButton.setAttribute("aria-label", `Leave room ${name}`);
    this.leaveButton.addEventListener("click", () => onLeave(this));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send(onSend);
    });
    container.append(root);
  }

  show() {
    this.root.hidden = false;
    this.unread = 0;
    this.log.scrollToEnd();
    (this.removed ? this.leaveButton : this.input).focus();
  }

  hide() {
    this.root.hidden = true;
  }

  destroy() {
    this.root.remove();
  }

  setOnline(online) {
    this.online = online;
    this.updateCompose();
  }

  /** Enable the field and its button as far as the connection and the room allow. */
  updateCompose() {
    this.sendButton.disabled = !this.online || this.removed || !this.ready;
    this.input.disabled = this.removed;
  }

  showHistory(history) {
    if (history.length) for (const message of history) this.log.add(messageItem(message));
    else this.log.placeholder("No messages yet.");
    this.ready = true;
    this.updateCompose();
  }

  addMessage(message) {
    this.log.addMessage(messageItem(message));
  }

  addSystem(text) {
    this.log.add(systemItem(text));
  }

  /** Show the people in the room; `live` tells whether joins and leaves will follow. */
  setUsers(users, live) {
    this.users = new Set(users);
    if (live) this.userlistNote.hidden = true;
    else this.showUserlistNote("Live updates are off in this room.");
    this.renderUsers();
  }

  userJoined(user) {
    this.users.add(user);
    this.renderUsers();
    this.addSystem(`${user} joined`);
  }

  userLeft(user) {
    this.users.delete(user);
    this.renderUsers();
    this.addSystem(`${user} left`);
  }

  userlistFailed(err) {
    this.showUserlistNote(`Could not read the userlist: ${errorText(err)}`);
  }

  /** The user is out of the room: read only, and no one is listed, since no more updates come. */
  loseAccess(reason) {
    this.removed = true;
    this.notice.textContent = `${reason}. You can no longer read or post here.`;
    this.notice.hidden = false;
    this.leaveButton.textContent = "Close";
    this.leaveButton.setAttribute("aria-label", `Close room ${this.name}`);
    this.root.classList.add("removed");
    this.updateCompose();
    this.users.clear();
    this.renderUsers();
    this.showUserlistNote("You are no longer in this room.");
  }

  showUserlistNote(text) {
    this.userlistNote.textContent = text;
    this.userlistNote.hidden = false;
  }

  renderUsers() {
    const names = [...this.users].sort();
    this.userlist.replaceChildren(...names.map((user) => el("li", { text: user === this.me ? `${user} (you)` : user })));
  }

  async send(onSend) {
    if (!this.input.value.trim()) {
      this.input.focus();
      return;
    }
    this.sendButton.disabled = true;
    try {
      await sendDraft(this.input, (text) => onSend(this, text));
      this.notice.hidden = true;
    } catch (err) {
      if (!this.removed) {
        this.notice.textContent = `Not sent: ${errorText(err)}`;
        this.notice.hidden = false;
      }
    } finally {
      this.updateCompose();
      this.input.focus();
    }
  }
}
