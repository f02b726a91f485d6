"""Whether a backtest is out of time: the model that made the scores learnt from no outcome of the window
it is measured on (ml.backtests' is_out_of_time), from the cutoffs ml.model_registry records it learnt.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb

from include.warehouse import has_table


def training_windows(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, list[date]]]:
    """Return each registered model version's horizon and the cutoffs whose label windows it learnt from.

    The registry's `cutoffs` are those the saved model (ml.train's champion: refit_cutoffs, every labelled
    cutoff of its training) was fitted on; its test cutoff, where it was calibrated, and validation cutoff
    are added, which a registry row listing only the evaluated model's cutoffs lacks. A version with
    neither is left out (unknown), as is a warehouse without a registry.
    """
    from ml.registry_table import ensure_registry

    if not has_table(con, "ml", "model_registry", views=False):
        return {}
    ensure_registry(con)  # a registry made before test_cutoff and validation_cutoff gains them, empty
    rows = con.execute(
        "select model_version, max(horizon_days), max(cutoffs), max(test_cutoff), max(validation_cutoff) "
        "from ml.model_registry group by model_version"
    ).fetchall()
    windows = {}
    for version, horizon_days, cutoffs, test_cutoff, validation_cutoff in rows:
        learnt = {date.fromisoformat(cutoff) for cutoff in json.loads(cutoffs or "[]")}
        learnt |= {cutoff for cutoff in (test_cutoff, validation_cutoff) if cutoff is not None}
        if learnt:
            windows[version] = (int(horizon_days), sorted(learnt))
    return windows


def out_of_time(as_of_date: date, horizon_days: int, training: tuple[int, list[date]] | None) -> bool | None:
    """Return whether no label window the model learnt from overlaps the scored one; None when unknown.

    A cutoff c of a model of horizon m labels [c, c + m); the date scored for h days is backtested on
    [as_of_date, as_of_date + h). They share a day when c < as_of_date + h and as_of_date < c + m: the model
    then learnt from outcomes it is being judged on (in-sample), as for a past date backfilled with a later
    champion. `training` is training_windows' entry of the scoring model.
    """
    if training is None:
        return None
    model_horizon, cutoffs = training
    return not any(
        cutoff < as_of_date + timedelta(days=horizon_days)
        and as_of_date < cutoff + timedelta(days=model_horizon)
        for cutoff in cutoffs
    )
