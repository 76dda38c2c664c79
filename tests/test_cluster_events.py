"""Events in every shape, and the reading endpoints, through the app on a real Redis Cluster
(3 masters, 3 replicas; every acknowledged write waits for its replica): the module-level tests
of ``test_events_api`` again, on the cluster client."""
import pytest

from tests import test_events_api as api
from tests.redis_cluster import module_tests, redis_client, settings  # noqa: F401  (fixtures: the app on the cluster)

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
globals().update(module_tests(api))
