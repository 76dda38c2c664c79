"""The gateway hook ``GET /v1/authz`` through the app on a real Redis Cluster (3 masters, 3
replicas; every counted call waits for its replica): ``test_authz.TestEndpoint`` again."""
import pytest

from tests import test_authz as authz
from tests.redis_cluster import cluster_settings


@pytest.fixture
def settings(redis_cluster, tmp_path):
    return cluster_settings(redis_cluster, tmp_path)


@pytest.fixture
def redis_client(cluster_redis):
    return cluster_redis


class TestEndpointOnCluster(authz.TestEndpoint):
    pass
