"""The champion's boosters compiled to machine code (lleaves) for scoring dates with many customers.

LightGBM's predict walks every tree for every row through its generic tree structure; lleaves compiles each
booster into one native function with LLVM. The predictions are LightGBM's: the same trees, thresholds and
objective transform, summed in another order, so they differ by float rounding only (a test holds them to
1e-12 of LightGBM's). On the 2-core machine, 1M rows of a 300-tree booster took 0.8 s against LightGBM's
5.2 s (docs/benchmarks.md).

Compiling one booster takes about 3 s, so only dates of at least COMPILE_MIN_ROWS customers are scored by
compiled code. Training compiles a champion it promotes when its scoring date is that large (about 5 s in
minutes of training), so the first scoring of a new champion runs at the speed of the next; scoring
compiles what is not compiled yet (another machine, a champion promoted by hand). The code is kept beside
the model version:
`artifacts/models/<version>/compiled/<key>/<booster>.o`. The key names the CPU the code was compiled for
(name and features) and the lleaves and llvmlite versions, because the code uses that CPU's instructions:
another machine reading the same artifacts (say the docker image on another host) compiles its own. A
compiled file is written under a temporary name and renamed, so a scorer never loads half of one; when the
artifacts folder is read-only the booster is compiled in memory only.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import lightgbm as lgb
import lleaves
import llvmlite.binding as llvm
import numpy as np

from ml.artifacts import booster_file

# Rows from which compiling pays off: LightGBM needs ~5 µs per row for a 300-tree booster here, lleaves
# ~0.8 µs plus ~3 s to compile once per model version and machine (read from the cache after). At 100,000
# customers a scoring saves ~0.4 s per booster, so the compile is repaid within about seven scorings of the
# same model; at 1M, within the first.
COMPILE_MIN_ROWS = 100_000


def prediction_threads() -> int:
    """Return the threads for predictions: OMP_NUM_THREADS when set (as LightGBM's OpenMP), else the cores."""
    configured = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    if hasattr(os, "sched_getaffinity"):  # the cores this process may use (Linux)
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cache_key() -> str:
    """Return the folder name of this machine's compiled code: CPU name, a hash of its features, versions."""
    llvm.initialize()
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:  # LLVM cannot read them on this CPU; lleaves then compiles without them too
        features = ""
    fingerprint = hashlib.sha256(features.encode()).hexdigest()[:12]
    versions = f"lleaves{package_version('lleaves')}-llvmlite{package_version('llvmlite')}"
    return f"{llvm.get_host_cpu_name()}-{fingerprint}-{versions}"


class CompiledBooster:
    """One booster's compiled prediction function; predict() returns what lgb.Booster.predict returns."""

    def __init__(self, model_file: Path, cache_folder: Path | None) -> None:
        self._model = lleaves.Model(model_file=str(model_file))
        cached = cache_folder / f"{model_file.stem}.o" if cache_folder is not None else None
        if cached is None:
            self._model.compile()
        elif cached.exists():
            self._model.compile(cache=str(cached))
        else:
            self._compile_into(cached)

    def _compile_into(self, cached: Path) -> None:
        """Compile, writing the code to a temporary file renamed to `cached` (in memory if that fails)."""
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=cached.parent, prefix=f".{cached.name}.")
        except OSError:  # a read-only artifacts folder
            self._model.compile()
            return
        os.close(handle)
        os.unlink(temporary)  # lleaves writes the code only to a path that does not exist yet
        try:
            self._model.compile(cache=temporary)
            os.replace(temporary, cached)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    def predict(self, matrix: np.ndarray, threads: int) -> np.ndarray:
        """Return the predictions for a (rows x features) float64 matrix, as LightGBM's predict gives them."""
        return self._model.predict(np.ascontiguousarray(matrix, dtype=np.float64), n_jobs=threads)


def compile_boosters(model_folder: Path, names: list[str]) -> dict[str, CompiledBooster]:
    """Return the model version's boosters compiled for this machine, from its cache when already compiled."""
    cache_folder = model_folder / "compiled" / cache_key()
    return {name: CompiledBooster(booster_file(model_folder, name), cache_folder) for name in names}


def same_category_order(
    boosters: dict[str, lgb.Booster], features: list[str], levels: dict[str, list[str]]
) -> bool:
    """Return whether every booster learnt the categories in the order model_matrix gives them.

    Only then does scoring hand the boosters a float matrix (and compiled code can predict it); boosters with
    another order get LightGBM's own recoding of a frame.
    """
    expected = [list(levels[column]) for column in features if column in levels]
    return all((booster.pandas_categorical or []) == expected for booster in boosters.values())


def compiled_for_date(
    model_folder: Path, boosters: dict[str, lgb.Booster], metadata: dict[str, Any], customers: int
) -> dict[str, CompiledBooster] | None:
    """Return the boosters compiled for this machine when a date of `customers` is scored by compiled code,
    else None (a small date, or boosters that take LightGBM's frame path)."""
    if customers < COMPILE_MIN_ROWS:
        return None
    if not same_category_order(boosters, metadata["features"], metadata["categorical_levels"]):
        return None
    return compile_boosters(model_folder, list(boosters))
