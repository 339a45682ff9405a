"""Fixtures that start real daphne processes (see harness.py)."""
import pytest

from .harness import Cluster


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
    is stopped (and its database dropped) at the end of the test."""
    clusters = []

    def make(n=2, env=None):
        cluster = Cluster(tmp_path_factory.mktemp("e2e"), env=env)
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
