/**
 * The page's state in one place, handed to the parts that need it instead
 * of living in module-level variables. A panel is a RoomPanel or the
 * DirectPanel, two kinds with the same show/hide/setOnline/unread surface:
 * which one is shown is a reference to the panel itself, never a name, so no
 * room name can be mistaken for the direct-message panel.
 */
export class PageState {
  constructor({ me, roomsManagement }) {
    this.me = me;
    this.roomsManagement = roomsManagement;
    this.online = false;
    this.available = new Map(); // room name -> {name, owner, whitelistOnly}, from GET /chat/rooms/
    this.rooms = new Map(); // room name -> RoomPanel (joined, or showing a loss of access)
    this.direct = null; // the DirectPanel when direct messages are on
    this.active = null; // the panel shown, or null
  }

  /** Every panel, rooms first. */
  panels() {
    return this.direct ? [...this.rooms.values(), this.direct] : [...this.rooms.values()];
  }

  isActive(panel) {
    return panel !== null && this.active === panel;
  }

  /** The room names to list: those the user may join and those with a panel. */
  roomNames() {
    return [...new Set([...this.available.keys(), ...this.rooms.keys()])].sort();
  }

  /** Apply a GET /chat/rooms/ answer. */
  setAvailable(data) {
    this.roomsManagement = data.enableRoomsManagement;
    this.available = new Map(data.rooms.map((room) => [room.name, room]));
  }
}
