"""Presets: code that imports a known public data set's files into the raw contract without a mapping."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from include.ingest import Loader
from include.presets import online_retail
from include.settings import get_settings


@dataclass(frozen=True)
class Preset:
    """A data set the importer knows: how to load one of its files, and where its files are by default."""

    name: str
    load_file: Loader
    default_files: Callable[[], list[Path]]


PRESETS: dict[str, Preset] = {
    online_retail.NAME: Preset(
        online_retail.NAME,
        online_retail.load_file,
        lambda: online_retail.default_files(get_settings().online_retail_dir),
    ),
}
