from django.core.management.base import BaseCommand, CommandError

from chatproject.service import ChatService, ChatServiceError


class Command(BaseCommand):
    help = "Create a chat room (the server-side addRoom)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--owner", default=None)
        parser.add_argument("--whitelist-only", action="store_true")

    def handle(self, *args, name, owner, whitelist_only, **options):
        service = ChatService()  # never started: it acts on the shared state only
        try:
            service.sync.add_room(name, {"owner": owner, "whitelistOnly": whitelist_only})
        except ChatServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Room {name} created.")
