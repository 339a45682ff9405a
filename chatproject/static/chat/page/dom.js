/**
 * DOM helpers of the chat page. Every piece of user data (names, messages)
 * reaches the DOM through textContent, never as HTML.
 */

export const byId = (id) => document.getElementById(id);

/** `el("li", {class: "x", text: "y"}, child…)`: a new element; `text` is set as textContent. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("aria-") || key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

export function errorText(err) {
  return err && err.message ? err.message : String(err);
}

/** A function that shows a short-lived message in `node` (a role="alert" element). */
export function flasher(node, ms = 8000) {
  let timer = null;
  return (text) => {
    node.textContent = text;
    node.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(() => {
      node.hidden = true;
    }, ms);
  };
}

function timeOf(ms) {
  const date = new Date(ms);
  const text = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return el("time", { dateTime: date.toISOString(), text });
}

/** One message as a list item; `author` overrides the shown author (direct messages). */
export function messageItem(message, author) {
  const text = typeof message.textMessage === "string" ? message.textMessage : JSON.stringify(message);
  const item = el("li", { class: "message" });
  if (Number.isInteger(message.id)) item.dataset.id = String(message.id);
  const head = el("div", { class: "meta" }, el("span", { class: "author", text: author || String(message.author ?? "server") }));
  if (Number.isInteger(message.timestamp)) head.append(" ", timeOf(message.timestamp));
  item.append(head, el("p", { class: "text", text }));
  return item;
}

export function systemItem(text) {
  return el("li", { class: "system", text });
}

/**
 * A message log: a scrolling role="log" region around an ordered list, so
 * that its items stay list items for assistive technology.
 */
export class MessageLog {
  constructor(region) {
    this.region = region;
    this.list = region.querySelector(".message-list");
  }

  /** Add an item, keeping items with ids in id order (a catch-up may arrive late); follows the end if it was in view. */
  add(item) {
    const region = this.region;
    const stick = region.scrollTop + region.clientHeight >= region.scrollHeight - 40;
    let before = null;
    if (item.dataset.id) {
      const id = Number(item.dataset.id);
      for (let node = this.list.lastElementChild; node; node = node.previousElementSibling) {
        if (!node.dataset.id) continue;
        if (Number(node.dataset.id) > id) before = node;
        else break;
      }
    }
    this.list.insertBefore(item, before);
    if (stick) this.scrollToEnd();
  }

  /** Show `text` as the only item while the log has nothing else. */
  placeholder(text) {
    this.list.replaceChildren(el("li", { class: "system placeholder", text }));
  }

  /** Add a message, replacing the placeholder. */
  addMessage(item) {
    const placeholder = this.list.querySelector(".placeholder");
    if (placeholder) placeholder.remove();
    this.add(item);
  }

  scrollToEnd() {
    this.region.scrollTop = this.region.scrollHeight;
  }
}
