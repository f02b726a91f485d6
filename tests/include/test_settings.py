"""Settings read the environment once: empty means the default, and a malformed value is one sentence."""

from __future__ import annotations

import pytest

from include.settings import get_settings

WHOLE_NUMBERS = ("CVW_HORIZON_DAYS", "CVW_SEED", "CVW_SYNTHETIC_CUSTOMERS", "CVW_TRAIN_MAX_CUSTOMERS")


@pytest.mark.parametrize("name", WHOLE_NUMBERS)
def test_an_empty_whole_number_setting_is_its_default(monkeypatch, name: str) -> None:
    monkeypatch.setenv(name, " ")
    settings = get_settings()
    read = (settings.horizon_days, settings.seed, settings.synthetic_customers, settings.train_max_customers)
    assert read == (90, 42, 5000, 200_000)


@pytest.mark.parametrize(
    ("name", "value", "sentence"),
    [
        # a ValueError traceback from int() before, at every verb and at DAG parsing
        ("CVW_HORIZON_DAYS", "90d", "CVW_HORIZON_DAYS='90d' is not a whole number of at least 1: set it"),
        ("CVW_TRAIN_MAX_CUSTOMERS", "0", "CVW_TRAIN_MAX_CUSTOMERS='0' is not a whole number of at least 1"),
        ("CVW_SEED", "-1", "CVW_SEED='-1' is not a whole number of at least 0"),
    ],
)
def test_a_malformed_whole_number_is_one_sentence(monkeypatch, name: str, value: str, sentence: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        get_settings()
    assert str(stopped.value).startswith(sentence)
    monkeypatch.setenv(name, "7")
    assert getattr(get_settings(), name.removeprefix("CVW_").lower()) == 7
