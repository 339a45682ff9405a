"""The direct-messaging permission rule (docs/protocol.md, Permissions), as a
pure function: the twin of rooms.permissions."""


def has_direct_access(recipient, sender, sender_lists):
    """May `sender` message `recipient` (a ChatUser)? `sender_lists` are the
    recipient's direct lists that name the sender."""
    if sender == recipient.name:
        return False
    if "blacklist" in sender_lists:
        return False
    if recipient.whitelist_only:
        return "whitelist" in sender_lists
    return True
