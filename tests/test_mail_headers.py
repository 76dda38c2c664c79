"""A subject survives RFC 2047 encoding word for word: Python's header folder drops the space
where it splits encoded words, so meter's messages are folded only past 998 characters."""
from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from meter.core import quotas
from meter.mail.smtp import MESSAGE_POLICY
from meter.reports.words import Words

WORDS = Words("fr")


def subjects() -> list[str]:
    names = ["Commune de éx", "Département du Loiret", "Communauté de communes des Terres du Val de Loire",
             "Syndicat mixte d'aménagement numérique " + "é" * 60 + " x" * 40]
    return [f"Alerte quota – {name} – {WORDS.metric(m.name)} à {WORDS.percent(p)}"
            for name in names for m in quotas.METRICS for p in (1, 80, 100)]


@pytest.mark.parametrize("subject", subjects())
def test_a_subject_reads_back_exactly_as_written(subject):
    msg = EmailMessage(policy=MESSAGE_POLICY)
    msg["Subject"] = subject
    msg.set_content("x")
    raw = msg.as_bytes()
    assert message_from_bytes(raw, policy=policy.default)["Subject"] == subject
    assert raw.isascii() and max(len(line) for line in raw.split(b"\n")) <= 998

