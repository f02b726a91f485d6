"""Prepare an Airflow installation for the project: metadata DB, the writer-lane pool, the dbt manifest.

    python -m include.airflow_setup            # after (or instead of) `airflow db migrate`; idempotent

1. migrates Airflow's metadata database (AIRFLOW_HOME / AIRFLOW__DATABASE__SQL_ALCHEMY_CONN);
2. creates or updates the pool `warehouse_writer` with one slot: the warehouse's single-writer lane;
3. writes the dbt manifest the transform DAG is rendered from (`dbt parse`, only when the project's files
   changed since the last parse), so Cosmos never runs dbt while Airflow parses DAG files.
`make demo` (include/run_dags.py), `make airflow` and the compose `airflow-init` service all run it; the
compose service with `--require-secrets`, which first stops, changing nothing, while a secret of .env is
unset, still .env.example's placeholder, or (the Fernet key) not a Fernet key.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from include.airflow_defaults import WAREHOUSE_POOL, WAREHOUSE_POOL_SLOTS
from include.dbt import dbt_environment
from include.settings import get_settings

# What dbt reads to build the manifest; target/, logs/ and dbt_packages/ are dbt's own output.
PROJECT_FOLDERS = ("models", "macros", "seeds", "tests", "snapshots", "analyses")
PROJECT_FILES = ("dbt_project.yml", "packages.yml", "dependencies.yml", "selectors.yml")
POOL_DESCRIPTION = "DuckDB allows one writer: every task that opens the warehouse runs here, one at a time."
# The secrets of a deployment's .env (.env.example): each must be set, and not to the example's placeholder.
# Without a Fernet key Airflow stores connection passwords (the alert webhook's among them) in clear text.
DEPLOYMENT_SECRETS = (
    "POSTGRES_PASSWORD",
    "AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__CORE__FERNET_KEY",
)
PLACEHOLDER_PREFIX = "change-me"  # how .env.example's placeholders start


def unsafe_secrets(environ: Mapping[str, str]) -> list[str]:
    """Return one phrase per deployment secret that is unset, a placeholder, or not a Fernet key."""
    from cryptography.fernet import Fernet

    problems = []
    for name in DEPLOYMENT_SECRETS:
        value = environ.get(name, "").strip()
        if not value:
            problems.append(f"{name} is not set")
        elif value.lower().startswith(PLACEHOLDER_PREFIX):
            problems.append(f"{name} is still the placeholder of .env.example")
        elif name == "AIRFLOW__CORE__FERNET_KEY":
            try:
                Fernet(value)
            except ValueError:
                problems.append(f"{name} is not a Fernet key (32 url-safe base64-encoded bytes)")
    return problems


def require_secrets(environ: Mapping[str, str] = os.environ) -> None:
    """Stop with one sentence naming every deployment secret that is unsafe (unsafe_secrets)."""
    problems = unsafe_secrets(environ)
    if problems:
        raise SystemExit(
            f"Not setting up Airflow: {'; '.join(problems)}. Set them in .env (see .env.example; a Fernet "
            'key: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())").'
        )


def migrate_metadata_db() -> None:
    """Create or upgrade Airflow's metadata database (what `airflow db migrate` does; idempotent)."""
    from airflow.utils.db import initdb

    initdb()


def ensure_pool(name: str = WAREHOUSE_POOL, slots: int = WAREHOUSE_POOL_SLOTS) -> None:
    """Create the writer-lane pool, or reset its slots and description when it exists."""
    from airflow.models.pool import Pool

    Pool.create_or_update_pool(name, slots=slots, description=POOL_DESCRIPTION, include_deferred=False)


def dbt_executable() -> str:
    """Return the project's dbt command beside this Python (`cvw-dbt`, include/dbt_cli.py: the project's
    venv), else dbt's own there, else the one on PATH."""
    for name in ("cvw-dbt", "dbt"):
        beside = Path(sys.executable).parent / name
        if beside.exists():
            return str(beside)
    return shutil.which("dbt") or "dbt"


def project_fingerprint(project_dir: Path) -> str:
    """Return a sha256 over the names and contents of every file dbt parses in the project."""
    paths = [project_dir / name for name in PROJECT_FILES if (project_dir / name).is_file()]
    for folder in PROJECT_FOLDERS:
        if (project_dir / folder).is_dir():
            paths += [path for path in (project_dir / folder).rglob("*") if path.is_file()]
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(project_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on a file for the block, so two set-ups never parse into one folder at once."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_manifest(force: bool = False) -> bool:
    """Write the dbt manifest for Cosmos when the project changed since the last parse; return if it did."""
    settings = get_settings()
    manifest = settings.dbt_manifest_path
    stamp = manifest.with_name(manifest.name + ".sha256")
    with _locked(manifest.with_name(".parse.lock")):
        fingerprint = project_fingerprint(settings.dbt_project_dir)
        if not force and manifest.exists() and stamp.exists() and stamp.read_text().strip() == fingerprint:
            return False
        parse_dir = manifest.parent / "parse"  # kept, so the next parse is a partial one
        project = str(settings.dbt_project_dir)
        command = [
            dbt_executable(),
            "parse",
            "--project-dir",
            project,
            "--profiles-dir",
            project,
            "--target-path",
            str(parse_dir),
            "--log-path",
            str(parse_dir / "logs"),
            "--quiet",
        ]
        environment = {**os.environ, **dbt_environment(settings.warehouse_path)}
        result = subprocess.run(command, env=environment, capture_output=True, text=True)
        if result.returncode != 0:
            detail = (result.stdout + result.stderr).strip().splitlines()[-5:]
            raise SystemExit(f"`dbt parse` of {project} failed, so Airflow cannot render transform: {detail}")
        os.replace(parse_dir / "manifest.json", manifest)  # the DAG processor sees the old or the new file
        temporary = stamp.with_name(stamp.name + ".tmp")
        temporary.write_text(fingerprint + "\n")
        os.replace(temporary, stamp)
        return True


def set_up(migrate: bool = True, force_parse: bool = False) -> list[str]:
    """Run the set-up steps; return one line per step saying what it did."""
    done = []
    if migrate:
        migrate_metadata_db()
        done.append("Airflow metadata database migrated")
    ensure_pool()
    done.append(f"pool {WAREHOUSE_POOL} has {WAREHOUSE_POOL_SLOTS} slot")
    parsed = ensure_manifest(force=force_parse)
    manifest = get_settings().dbt_manifest_path
    done.append(f"dbt manifest {'written' if parsed else 'up to date'}: {manifest}")
    return done


def main(argv: list[str] | None = None) -> int:
    """Prepare Airflow for the project from the command line; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-migrate", action="store_true", help="skip the metadata database migration")
    parser.add_argument("--force-parse", action="store_true", help="run `dbt parse` even if nothing changed")
    parser.add_argument(
        "--require-secrets",
        action="store_true",
        help="first stop unless the deployment's secrets (.env) are set, not placeholders",
    )
    args = parser.parse_args(argv)
    if args.require_secrets:
        require_secrets()
    for line in set_up(migrate=not args.no_migrate, force_parse=args.force_parse):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
