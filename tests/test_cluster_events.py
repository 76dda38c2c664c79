"""Events in every shape, and the reading endpoints, through the app on a real Redis Cluster
(3 masters, 3 replicas; every acknowledged write waits for its replica): the module-level tests
of ``test_events_api`` again, on the cluster client."""
import pytest

from tests import test_events_api as api
from tests.redis_cluster import cluster_settings, module_tests

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
globals().update(module_tests(api))


@pytest.fixture
def settings(redis_cluster, tmp_path):
    return cluster_settings(redis_cluster, tmp_path)


@pytest.fixture
def redis_client(cluster_redis):
    return cluster_redis
