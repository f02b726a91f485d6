"""The `cvw` command line passes its flags on to the step it runs."""

from datetime import date

import pytest

from ml import cli


def test_build_passes_the_date_and_full_refresh_to_dbt(monkeypatch: pytest.MonkeyPatch) -> None:
    import include.dbt

    calls = []
    monkeypatch.setattr(include.dbt, "dbt_build", lambda **kwargs: calls.append(kwargs))
    cli.main(["build", "--as-of-date", "2024-06-01", "--full-refresh"])
    cli.main(["build"])
    assert calls == [
        {"as_of_date": date(2024, 6, 1), "full_refresh": True},
        {"as_of_date": None, "full_refresh": False},
    ]


def test_a_malformed_date_is_refused_with_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["build", "--as-of-date", "01/06/2024"])
    assert "'01/06/2024' is not a date; use YYYY-MM-DD" in capsys.readouterr().err
