"""`cvw models`: the registered model versions, newest first, a version made champion by hand, and pruning.

`cvw models [list] [--json]` prints ml.model_registry, one line per version, and marks the version the
champion pointer names: the one scoring loads. `cvw models promote VERSION --reason TEXT` is the operator's
rollback: it makes a registered, saved version champion without the gate (ml.registry.promote_by_hand),
retiring the current one, in the registry's transaction that moves the pointer. Scores change only when
scoring runs next: the command sends no `champion_model` asset event (the train DAG does, on a promotion).
`cvw models prune [--keep N] [--keep-champions N] [--dry-run]` removes the artifact folders of old versions
and keeps their registry rows (ml.retention).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import duckdb

from include.settings import get_settings
from include.warehouse import connect, has_table, require_table
from ml.arguments import whole_number
from ml.artifacts import champion_version, missing_artifacts, version_dir
from ml.registry import GATE_METRICS, promote_by_hand
from ml.registry_table import CHAMPION

COUNT = whole_number(0)  # --keep, --keep-champions
DEFAULT_KEEP = 10  # `cvw models prune`: the newest versions whose folders stay, whatever their status
DEFAULT_KEEP_CHAMPIONS = 3  # and the most recently retired champions whose folders stay: rollback targets
REASON_WIDTH = 60  # the list cuts reasons here; --json and ml.model_registry hold them whole
NEXT_SCORING = (
    "Scores change only when scoring runs next: run `cvw score` or trigger the score DAG (this command "
    "sends no champion_model event)."
)


def registered_versions(con: duckdb.DuckDBPyConnection, artifacts_dir: Path) -> list[dict[str, Any]]:
    """Return one dict per registered version, newest first; `pointer` marks the version that scores."""
    require_table(con, "ml", "model_registry", "train a model (cvw train)")
    # every column, so a registry made before test_cutoff existed is listed too (read-only: none is added)
    cursor = con.execute("select * from ml.model_registry order by trained_at desc, model_version desc, task")
    columns = [column[0] for column in cursor.description]
    pointed = champion_version(artifacts_dir)
    versions: dict[str, dict[str, Any]] = {}
    for values in cursor.fetchall():
        row = dict(zip(columns, values, strict=True))
        # when `cvw models prune` removed the version's artifacts; a registry made before the column: never
        pruned_at = row.get("pruned_at")
        version = versions.setdefault(
            row["model_version"],
            {
                "version": row["model_version"],
                "statuses": [],
                "horizon_days": row["horizon_days"],
                "trained_at": f"{row['trained_at']:%Y-%m-%d %H:%M:%S}",
                "test_cutoff": None if row.get("test_cutoff") is None else str(row["test_cutoff"]),
                "metrics": {},
                "reasons": [],
                "updated_at": f"{row['updated_at']:%Y-%m-%d %H:%M:%S}",
                "pruned_at": pruned_at and f"{pruned_at:%Y-%m-%d %H:%M:%S}",
                "pointer": row["model_version"] == pointed,
            },
        )
        version["metrics"][row["task"]] = json.loads(row["metrics"])
        for key, value in (("statuses", row["status"]), ("reasons", row["reason"])):
            if value not in version[key]:
                version[key].append(value)
    # the tasks' rows share a status and a reason, as every writer writes them; "/" shows where they do not
    listing = []
    for version in versions.values():
        statuses, reasons = version.pop("statuses"), version.pop("reasons")  # the lists stay out of it
        listing.append({**version, "status": "/".join(statuses), "reason": " / ".join(reasons)})
    return listing


def _metric(metrics: dict[str, dict[str, float]], task: str, name: str) -> str:
    """Return a stored metric to 4 decimals, "-" when the version has none."""
    value = metrics.get(task, {}).get(name)
    return "-" if value is None else f"{value:.4f}"


def aligned_lines(rows: list[list[str]], right: set[int]) -> list[str]:
    """Return rows of cells as aligned lines: the columns in `right` right-aligned, the others left."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def _cut(reason: str) -> str:
    """Return a reason's first line, cut to REASON_WIDTH characters."""
    line = reason.splitlines()[0] if reason else ""
    return line if len(line) <= REASON_WIDTH else line[: REASON_WIDTH - 3] + "..."


def _status(version: dict[str, Any]) -> str:
    """Return a version's status as the list shows it: ", pruned" after it once its artifacts are removed."""
    return version["status"] + (", pruned" if version["pruned_at"] else "")


def describe_versions(versions: list[dict[str, Any]], pointed: str | None) -> str:
    """Return the registry as a table, the pointer's version marked, and a warning when the two disagree."""
    if not versions:
        return "ml.model_registry holds no model version yet: train one (cvw train)."
    headline = [(task, name) for task, names in GATE_METRICS.items() for name in names]
    header = ["", "version", "status", "horizon", "trained_at", "test_cutoff"]
    rows = [header + [f"{task} {name}" for task, name in headline] + ["reason"]]
    for version in versions:
        rows.append(
            ["*" if version["pointer"] else "", version["version"], _status(version)]
            + [str(version["horizon_days"]), version["trained_at"][:16], version["test_cutoff"] or "-"]
            + [_metric(version["metrics"], task, name) for task, name in headline]
            + [_cut(version["reason"])]
        )
    lines = aligned_lines(rows, right={3, *range(6, 6 + len(headline))})
    lines.append("* the version the champion pointer names: the one scoring loads")
    registered = {version["version"]: version["status"] for version in versions}
    champions = [version for version, status in registered.items() if status == CHAMPION]
    if pointed is None or registered.get(pointed) != CHAMPION or len(champions) != 1:
        # the pointer and the registry edited apart by hand: a promotion by hand makes them agree again
        lines.append(
            f"warning: the pointer names {pointed or 'no version'} but the registry's champion is "
            f"{', '.join(champions) or 'none'}: `cvw models promote VERSION --reason TEXT` makes them agree."
        )
    return "\n".join(lines)


def _mart_differences(con: duckdb.DuckDBPyConnection, artifacts_dir: Path, version: str) -> str | None:
    """Return how marts.customer_features differs from a saved version's features, None when it can score it.

    None without a mart too: nothing is scored until one is built, and scoring checks it then.
    """
    from ml.btyd import BTYD_FEATURES
    from ml.feature_contract import feature_differences, mart_feature_types

    if not has_table(con, "marts", "customer_features"):
        return None
    metadata = json.loads((version_dir(artifacts_dir, version) / "metadata.json").read_text())
    return feature_differences(
        metadata["features"], mart_feature_types(con), BTYD_FEATURES, metadata.get("feature_types")
    )


def promote(
    con: duckdb.DuckDBPyConnection,
    artifacts_dir: Path,
    version: str,
    reason: str,
    horizon_change: bool = False,
) -> str:
    """Make a registered, saved version champion by hand; return its metrics next to the replaced one's.

    Refuses, changing nothing, an unknown version, a pruned one, one whose artifacts are incomplete, one
    whose features the mart no longer has as it learnt them (scoring would refuse it), the champion
    itself, and one for another horizon than the champion's unless `horizon_change`.
    """
    if not reason.strip():
        raise SystemExit(
            "The reason is empty: say why this version is promoted by hand (the registry keeps it)."
        )
    versions = {entry["version"]: entry for entry in registered_versions(con, artifacts_dir)}
    chosen = versions.get(version)
    if chosen is None:
        raise SystemExit(
            f"Model version {version} is not in ml.model_registry: `cvw models` lists the versions there."
        )
    pointed = champion_version(artifacts_dir)
    champions = [entry for entry in versions.values() if entry["status"] == CHAMPION]
    if chosen["status"] == CHAMPION and pointed == version:
        raise SystemExit(f"Model version {version} is already the champion: nothing changed.")
    if chosen["pruned_at"]:
        raise SystemExit(
            f"Model version {version} cannot score: `cvw models prune` removed its artifacts on "
            f"{chosen['pruned_at'][:10]}; promote a version `cvw models` does not list as pruned."
        )
    missing = missing_artifacts(artifacts_dir, version)
    if missing:
        raise SystemExit(
            f"Model version {version} cannot score: {version_dir(artifacts_dir, version)} lacks "
            f"{', '.join(missing)}; restore the folder or promote another version."
        )
    differences = _mart_differences(con, artifacts_dir, version)
    if differences:
        raise SystemExit(
            f"Model version {version} cannot score marts.customer_features as it is now: the mart "
            f"{differences}; promote a version trained on the mart as it is (cvw models lists them), or "
            "train one (cvw train)."
        )
    # the champion that scores now: the registry's, else the one the pointer names
    champion = champions[0] if champions else versions.get(pointed) if pointed else None
    if champion and champion["horizon_days"] != chosen["horizon_days"] and not horizon_change:
        raise SystemExit(
            f"Model version {version} predicts {chosen['horizon_days']} days and the champion "
            f"{champion['version']} {champion['horizon_days']}: scores of both horizons would mix in the "
            "score history and its backtests; pass --horizon-change to switch horizons on purpose."
        )
    promote_by_hand(con, artifacts_dir, version, reason.strip())
    replaced = f"; {champion['version']} is retired" if champion and champion["version"] != version else ""
    columns = [chosen] + ([champion] if champion and champion["version"] != version else [])
    rows = [[""] + [f"{entry['version']} ({'now' if entry is chosen else 'before'})" for entry in columns]]
    rows.append(["test_cutoff"] + [entry["test_cutoff"] or "-" for entry in columns])
    rows.append(["horizon_days"] + [str(entry["horizon_days"]) for entry in columns])
    rows += [
        [f"{task} {name}"] + [_metric(entry["metrics"], task, name) for entry in columns]
        for task, names in GATE_METRICS.items()
        for name in names
    ]
    lines = [f"{version} is the champion now, promoted by hand without the gate{replaced}."]
    lines += ["  " + line for line in aligned_lines(rows, right=set(range(1, len(columns) + 1)))]
    return "\n".join([*lines, NEXT_SCORING])


def json_safe(value: Any) -> Any:
    """Return the value with every NaN or infinite float, at any depth, as None (JSON's null).

    An undefined metric (NaN: ROC-AUC of a holdout where nobody churned, Spearman of tied predictions) is
    NaN in the registry; json.dumps would print it as NaN, which is not JSON, and `--json` is for scripts.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def main(argv: list[str] | None = None) -> int:
    """List the registry, promote a version by hand or prune old versions' artifacts; print the result."""
    parser = argparse.ArgumentParser(prog="cvw models", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the registry as JSON")
    actions = parser.add_subparsers(dest="action")
    listing = actions.add_parser("list", help="the registered versions, newest first (the default)")
    listing.add_argument("--json", action="store_true", dest="list_json", help="print the registry as JSON")
    promoting = actions.add_parser("promote", help="make a registered version champion by hand (a rollback)")
    promoting.add_argument("version")
    promoting.add_argument("--reason", required=True, help="why, kept in the registry's reason")
    promoting.add_argument(
        "--horizon-change", action="store_true", help="allow another horizon than the champion's"
    )
    pruning = actions.add_parser(
        "prune",
        help="remove the artifact folders of old versions; their registry rows stay, marked pruned",
        description=(
            "Remove the artifact folders of old model versions. Kept: the champion, the --keep-champions "
            "most recently retired champions (rollback targets), the versions that made the latest scores "
            "and the --keep newest versions. A folder in no registry row is left alone (a training at "
            "work), unless its training died before registering it. A removed version keeps its rows in "
            "ml.model_registry and ml.evaluations, marked pruned."
        ),
    )
    pruning.add_argument(
        "--keep",
        type=COUNT,
        default=DEFAULT_KEEP,
        metavar="N",
        help=f"keep the N newest registered versions (default {DEFAULT_KEEP})",
    )
    pruning.add_argument(
        "--keep-champions",
        type=COUNT,
        default=DEFAULT_KEEP_CHAMPIONS,
        metavar="N",
        help=f"keep the N most recently retired champions, for a rollback (default {DEFAULT_KEEP_CHAMPIONS})",
    )
    pruning.add_argument("--dry-run", action="store_true", help="print what would be removed; remove nothing")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.action == "prune":
        from ml.retention import prune

        print(
            prune(
                settings.warehouse_path, settings.artifacts_dir, args.keep, args.keep_champions, args.dry_run
            )
        )
        return 0
    if args.action == "promote":
        with connect(settings.warehouse_path) as con:
            print(promote(con, settings.artifacts_dir, args.version, args.reason, args.horizon_change))
        return 0
    with connect(settings.warehouse_path, read_only=True) as con:
        versions = registered_versions(con, settings.artifacts_dir)
    if args.json or getattr(args, "list_json", False):
        print(json.dumps(json_safe(versions), indent=2, allow_nan=False))
    else:
        print(describe_versions(versions, champion_version(settings.artifacts_dir)))
    return 0
