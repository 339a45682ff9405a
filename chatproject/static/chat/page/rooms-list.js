/** The sidebar's room list: the rooms the user may join and those with a panel. */
import { el } from "./dom.js";

/** GET the rooms endpoint (`{rooms, enableRoomsManagement, …}`); throws with the server's message. */
export async function fetchRooms(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  const data = await response.json();
  if (!response.ok) throw new Error(data.message || `HTTP ${response.status}`);
  return data;
}

export class RoomsList {
  /**
   * @param {object} deps  `state` (PageState), `list` (the <ul>), `empty`
   *   (the "no rooms" note), `onOpen(name)`, `onDelete(name)`
   */
  constructor({ state, list, empty, onOpen, onDelete }) {
    Object.assign(this, { state, list, empty, onOpen, onDelete });
  }

  render() {
    const { state } = this;
    const names = state.roomNames();
    this.empty.hidden = names.length > 0;
    this.list.replaceChildren(...names.map((name) => this.item(name, state.available.get(name), state.rooms.get(name))));
  }

  item(name, info = { name, owner: null, whitelistOnly: false }, panel = null) {
    const { state } = this;
    const button = el("button", { type: "button", class: "room-button", "data-room": name }, el("span", { class: "room-name", text: name }));
    const details = [];
    if (panel && !panel.removed) details.push("joined");
    if (panel && panel.removed) details.push("access lost");
    if (info.whitelistOnly) details.push("whitelist only");
    if (info.owner === state.me) details.push("yours");
    if (details.length) button.append(el("span", { class: "room-meta", text: details.join(" · ") }));
    if (panel && panel.unread) {
      button.append(el("span", { class: "badge", text: String(panel.unread), "aria-label": `${panel.unread} unread` }));
    }
    if (state.isActive(panel)) button.setAttribute("aria-current", "true");
    button.addEventListener("click", () => this.onOpen(name));
    const item = el("li", {}, button);
    if (state.roomsManagement && info.owner === state.me) {
      const del = el("button", { type: "button", class: "danger small", text: "Delete", "aria-label": `Delete room ${name}` });
      del.addEventListener("click", () => this.onDelete(name));
      item.append(del);
    }
    return item;
  }
}
