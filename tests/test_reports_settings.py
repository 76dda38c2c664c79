"""The pool file's [reports] and [alerts] sections: defaults, and each bad value named."""
import pytest

from meter.config.settings import parse_pool_config
from meter.core.errors import ConfigError


def test_defaults():
    config = parse_pool_config("")
    assert config.reports.send_day == 1 and config.reports.send_time == "07:00" and config.reports.language == "fr"
    assert config.alerts.thresholds == [80, 90, 100] and config.alerts.forecast and not config.alerts.webhook_url


@pytest.mark.parametrize("text, named", [
    ("[reports]\nsend_day = 29", "reports.send_day"),
    ('[reports]\nsend_time = "7h"', "reports.send_time"),
    ('[reports]\nlanguage = "de"', "reports.language"),
    ('[reports]\nadmins = ["nobody"]', "reports.admins"),
    ("[alerts]\nthresholds = [0, 80]", "alerts.thresholds"),
    ('[alerts]\nwebhook_url = "https://hooks.example/x"', "alerts"),
    ('[alerts]\nwebhook_url = "ftp://x"\nwebhook_secret = "whsec_AAAA"', "alerts"),
    ("[reports]\ncolour = 1", "reports.colour"),
])
def test_bad_values_are_named(text, named):
    with pytest.raises(ConfigError) as err:
        parse_pool_config(text)
    assert named in err.value.message
