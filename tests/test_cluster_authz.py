"""The gateway hook ``GET /v1/authz`` through the app on a real Redis Cluster (3 masters, 3
replicas; every counted call waits for its replica): ``test_authz.TestEndpoint`` again."""

from tests import test_authz as authz
from tests.redis_cluster import redis_client, settings  # noqa: F401  (fixtures: the app on the cluster)


class TestEndpointOnCluster(authz.TestEndpoint):
    pass
