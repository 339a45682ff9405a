"""The room permission rules (docs/protocol.md, Permissions), as pure functions."""
from chatproject.common.errors import ChatServiceError


def is_admin(room, user_name, user_lists):
    """Owner or adminlist. A missing caller (None) never matches an owner of None."""
    if user_name is None:
        return False
    return user_name == room.owner or "adminlist" in user_lists


def is_reader(room, user_name, user_lists, present):
    """Who may read a room's history, lists and owner: an admin, or a user
    present in the room (`present`: in its userlist)."""
    return is_admin(room, user_name, user_lists) or (user_name is not None and bool(present))


def has_room_access(room, user_name, user_lists):
    if is_admin(room, user_name, user_lists):
        return True
    if "blacklist" in user_lists:
        return False
    if room.whitelist_only:
        return "whitelist" in user_lists
    return True


def check_list_change(room, caller, caller_lists, list_name, names):
    """Raise notAllowed/noList for roomAddToList / roomRemoveFromList (docs/protocol.md, roomAddToList)."""
    if caller is None or caller != room.owner:
        if list_name == "adminlist" or "adminlist" not in caller_lists:
            raise ChatServiceError("notAllowed")
        if room.owner is not None and room.owner in names:
            raise ChatServiceError("notAllowed")
    if list_name not in ("whitelist", "blacklist", "adminlist"):
        raise ChatServiceError("noList", list_name)
