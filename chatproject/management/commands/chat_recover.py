from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chatproject.service import ChatService, ChatServiceError


class Command(BaseCommand):
    help = (
        "Repair presence state: clean up after a dead instance (instanceRecovery), "
        "a room's userlist (roomStateSync) or a user's sockets (userStateSync)."
    )

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--instance", help="id of an instance that stopped without closing")
        target.add_argument("--room", help="room whose userlist to repair")
        target.add_argument("--user", help="user whose socket records to repair")

    def handle(self, *args, instance, room, user, **options):
        if not settings.REDIS_URL:
            self.stderr.write(
                "Warning: REDIS_URL is unset, so the notifications this repair causes "
                "cannot reach the sockets of any server process."
            )
        service = ChatService()  # never started: acts on the shared state only
        try:
            if instance is not None:
                service.sync.instance_recovery(instance)
                service.sync.forget_dead_instance(instance)
            elif room is not None:
                service.sync.room_state_sync(room)
            else:
                service.sync.user_state_sync(user)
        except ChatServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write("Recovery done.")
