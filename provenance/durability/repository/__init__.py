"""Manifest repositories: where signed manifests are kept to be found again by their soft binding.

`open_repository()` picks the backend from the location: nothing for the default SQLite file under
the platform data folder, a path for another SQLite file, or a `postgresql://` URL.
"""

from __future__ import annotations

import os
from pathlib import Path

from provenance.durability.repository.interface import INDEX_REACH, Entry, Lookup, Match, QueryError, Repository

__all__ = ["INDEX_REACH", "Entry", "Lookup", "Match", "QueryError", "Repository", "default_location",
           "is_postgres", "open_repository"]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def default_location() -> Path:
    """The embedded repository's default file, e.g. ~/.local/share/provenance/manifests.sqlite3."""
    from platformdirs import user_data_path

    return user_data_path("provenance", appauthor=False) / "manifests.sqlite3"


def is_postgres(location: str | os.PathLike[str]) -> bool:
    """Whether `location` is a PostgreSQL URL rather than a SQLite file."""
    return isinstance(location, str) and location.startswith(_POSTGRES_SCHEMES)


def open_repository(location: str | os.PathLike[str] | None = None, *, create: bool = True) -> Repository | None:
    """The repository at `location` (default: the embedded SQLite file).

    With `create=False` (verifying: nothing to write) a SQLite file that does not exist yet means
    there is nothing to find, and None is returned instead of creating it.
    """
    if location is not None and is_postgres(location):
        from provenance.durability.repository.postgres import PostgresRepository

        return PostgresRepository(str(location))
    from provenance.durability.repository.sqlite import SqliteRepository

    path = Path(location) if location is not None else default_location()
    if not path.is_file():
        if not create:
            return None
        if location is None:
            path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteRepository(path, create=create)
