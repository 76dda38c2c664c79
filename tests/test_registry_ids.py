"""Signatory ids: SIRENs (Luhn), slugs, and the reserved ``unattributed`` (pure, no services)."""
from __future__ import annotations

import pytest

from meter.core.errors import InvalidRequest
from meter.registry.ids import check_id, id_problem, luhn_valid


@pytest.mark.parametrize("digits", ["79927398713", "234500023", "552100554", "200046977", "0"])
def test_luhn_accepts_a_valid_check_digit(digits: str) -> None:
    assert luhn_valid(digits)


@pytest.mark.parametrize("digits", ["79927398710", "234500024", "552100555", "123456789"])
def test_luhn_refuses_a_wrong_check_digit(digits: str) -> None:
    assert not luhn_valid(digits)


@pytest.mark.parametrize("sid", ["234500023", "552100554", "200046977", "214503328"])
def test_a_siren_with_a_valid_check_digit_is_an_id(sid: str) -> None:
    assert id_problem(sid) is None
    assert check_id(sid) == sid


@pytest.mark.parametrize("sid", ["234500024", "123456789"])
def test_a_siren_with_a_wrong_check_digit_is_refused(sid: str) -> None:
    assert "check digit" in id_problem(sid)


@pytest.mark.parametrize("sid", ["23450002", "2345000230", "1"])
def test_an_all_digit_id_must_have_nine_digits(sid: str) -> None:
    assert "exactly 9 digits" in id_problem(sid)


@pytest.mark.parametrize("sid", ["loiret", "tours-metropole", "cc-3", "a", "x" * 64, "2a", "-a-"])
def test_a_slug_with_a_letter_is_an_id(sid: str) -> None:
    assert id_problem(sid) is None


@pytest.mark.parametrize("sid", ["123-456", "-", "--9"])
def test_a_slug_without_a_letter_is_refused(sid: str) -> None:
    assert "at least one letter" in id_problem(sid)


@pytest.mark.parametrize("sid", ["Loiret", "tours_metropole", "x" * 65, "a b", "é", "loiret\n", "a.b"])
def test_a_slug_outside_the_alphabet_or_length_is_refused(sid: str) -> None:
    assert "slug" in id_problem(sid)


@pytest.mark.parametrize("value", ["", None, 234500023])
def test_an_id_must_be_a_non_empty_string(value: object) -> None:
    assert id_problem(value) == "must be a non-empty string"


def test_unattributed_is_reserved() -> None:
    assert "reserved" in id_problem("unattributed")


def test_check_id_names_the_field_and_the_reason() -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_id("234500024")
    assert caught.value.details == [{"field": "id", "reason": id_problem("234500024")}]
