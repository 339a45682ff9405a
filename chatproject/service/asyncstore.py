from channels.db import database_sync_to_async


class AsyncStore:
    """Exposes sync ORM functions as async methods, one object per service.

    Each method is an instance attribute, so a test can make one operation of
    one service fail (docs/testing.md, Fault injection).
    """

    operations = ()

    def __init__(self):
        for function in self.operations:
            setattr(self, function.__name__, database_sync_to_async(function))
