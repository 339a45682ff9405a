"""Fixtures that start real daphne processes (see harness.py)."""
import pytest

from .harness import Cluster, multi_process_redis_url


@pytest.fixture
def daphne_server(request, tmp_path):
    """A started daphne with its own database and Redis prefix; always stopped.

    Extra environment: ``@pytest.mark.daphne_env(CHAT_HOOKS="...")``.
    ``daphne_server.spawn_peer()`` starts another process on the same
    database and prefix."""
    marker = request.node.get_closest_marker("daphne_env")
    cluster = Cluster(tmp_path / "e2e", env=marker.kwargs if marker else None)
    try:
        cluster.create_database()
        yield cluster.add_server()
    finally:
        cluster.close()


@pytest.fixture
def daphne_cluster(tmp_path_factory):
    """Factory: ``servers = daphne_cluster(2, env={...})`` starts N daphne
    processes sharing one database and one Redis prefix. Every cluster made
    is stopped (and its database dropped) at the end of the test.

    ``redis=True`` gives the cluster a Redis even when the run has no
    ``REDIS_URL`` (``multi_process_redis_url``; skips if there is none), so
    that multi-process tests run in both CI runs; ``redis="redis://..."``
    names one (a private ``RedisServer``)."""
    clusters = []

    def make(n=2, env=None, redis=None):
        redis_url = redis
        if redis is True:
            redis_url = multi_process_redis_url()
            if redis_url is None:
                pytest.skip("no Redis for several processes (REDIS_URL unset, nothing on 6379)")
        cluster = Cluster(tmp_path_factory.mktemp("e2e"), env=env, redis_url=redis_url)
        clusters.append(cluster)
        cluster.create_database()
        return [cluster.add_server() for _ in range(n)]

    yield make
    errors = []
    for cluster in clusters:
        try:
            cluster.close()
        except Exception as exc:  # stop every cluster even if one fails
            errors.append(exc)
    if errors:
        raise errors[0]
