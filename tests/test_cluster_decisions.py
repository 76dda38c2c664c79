"""Checks, reservations, idempotency and the ledger's rebuild through the app on a real Redis
Cluster (3 masters, 3 replicas; every acknowledged write waits for its replica): the tests of
``test_decisions`` again, on the cluster client (all of its module-level tests but those that
open their own plain Redis connection)."""
import pytest

from tests import test_decisions as d
from tests.redis_cluster import module_tests, redis_client, settings  # noqa: F401  (fixtures: the app on the cluster)

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
config = d.config
globals().update(module_tests(d, but={"test_concurrent_checks_never_exceed_the_cap"}))
