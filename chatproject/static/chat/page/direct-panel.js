/** The direct-message panel: the conversation log, the send form and who may message the user. */
import { sendDraft } from "./compose.js";
import { byId, el, errorText, messageItem, MessageLog } from "./dom.js";

export class DirectPanel {
  /**
   * @param {object} deps  `client` (a ChatClient), `me` (the user's name),
   *   `flash(text)`, `onOpen()` (the sidebar button asks to show the panel)
   */
  constructor({ client, me, flash, onOpen }) {
    this.client = client;
    this.me = me;
    this.flash = flash;
    this.unread = 0;
    this.online = false;
    this.root = byId("dm-panel");
    this.title = byId("dm-title");
    this.log = new MessageLog(byId("dm-log"));
    this.badge = byId("dm-unread");
    this.form = byId("dm-form");
    this.to = byId("dm-to");
    this.input = byId("dm-text");
    this.sendButton = this.form.querySelector("button");
    this.whitelistOnly = byId("dm-whitelist-only");
    this.listForm = byId("dm-list-form");
    this.listUser = byId("dm-list-user");
    this.listName = byId("dm-list-name");

    this.openButton = byId("dm-open");
    this.openButton.addEventListener("click", onOpen);
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.whitelistOnly.addEventListener("change", () => this.setWhitelistMode(this.whitelistOnly.checked));
    this.listForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.changeList(event.submitter && event.submitter.value === "remove");
    });
  }

  show() {
    this.root.hidden = false;
    this.openButton.setAttribute("aria-current", "true");
    this.setUnread(0);
    this.log.scrollToEnd();
    this.title.focus();
  }

  hide() {
    this.root.hidden = true;
    this.openButton.removeAttribute("aria-current");
  }

  setOnline(online) {
    this.online = online;
    this.sendButton.disabled = !online;
  }

  setUnread(count) {
    this.unread = count;
    this.badge.textContent = count ? String(count) : "";
    this.badge.setAttribute("aria-label", `${count} unread`);
    this.badge.hidden = count === 0;
  }

  /** Show a message sent (`outgoing`, to `counterpart`) or received. */
  add(message, counterpart, outgoing) {
    const author = outgoing ? `${this.me} → ${counterpart}` : `${message.author} → ${this.me}`;
    this.log.add(messageItem(message, author));
  }

  async send() {
    const to = this.to.value.trim();
    if (!to || !this.input.value.trim()) {
      this.flash("Enter a user name and a message.");
      (to ? this.input : this.to).focus();
      return;
    }
    this.sendButton.disabled = true;
    try {
      const sent = await sendDraft(this.input, (text) => this.client.call("directMessage", to, { textMessage: text }));
      this.add(sent, to, true);
    } catch (err) {
      this.flash(`Not sent to ${to}: ${errorText(err)}`);
    } finally {
      this.sendButton.disabled = !this.online;
      this.input.focus();
    }
  }

  /** Read the whitelist mode and both lists from the server. */
  async loadSettings() {
    try {
      const [mode, blacklist, whitelist] = await Promise.all([
        this.client.call("directGetWhitelistMode"),
        this.client.call("directGetAccessList", "blacklist"),
        this.client.call("directGetAccessList", "whitelist"),
      ]);
      this.whitelistOnly.checked = mode;
      byId("dm-blacklist").replaceChildren(...blacklist.sort().map((user) => el("li", { text: user })));
      byId("dm-whitelist").replaceChildren(...whitelist.sort().map((user) => el("li", { text: user })));
    } catch (err) {
      this.flash(`Could not load your direct message settings: ${errorText(err)}`);
    }
  }

  async setWhitelistMode(on) {
    try {
      await this.client.call("directSetWhitelistMode", on);
    } catch (err) {
      this.flash(`Could not change the mode: ${errorText(err)}`);
      this.whitelistOnly.checked = !on;
    }
  }

  async changeList(remove) {
    const user = this.listUser.value.trim();
    const list = this.listName.value;
    if (!user) {
      this.flash("Enter a user name.");
      this.listUser.focus();
      return;
    }
    try {
      await this.client.call(remove ? "directRemoveFromList" : "directAddToList", list, [user]);
      this.listUser.value = "";
    } catch (err) {
      this.flash(`Could not change your ${list}: ${errorText(err)}`);
    }
    this.loadSettings();
  }
}
