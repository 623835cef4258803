"""A value every Dask worker of a run holds, workers that join or restart later included (a worker plugin).

Kept apart from provenance.cluster because it imports distributed as soon as it is loaded.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

_values: dict[str, Any] = {}  # on a worker: plugin name → its value


class SharedValue(WorkerPlugin):
    """Installs `value` under `name` on each worker it is attached to, and removes it when unregistered."""

    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = value

    def setup(self, worker: Any) -> None:
        """On a worker, when the plugin is registered or the worker starts."""
        _values[self.name] = self.value

    def teardown(self, worker: Any) -> None:
        """On a worker, when the plugin is removed or the worker stops."""
        _values.pop(self.name, None)


def call_with(task: Any, name: str, batch: list[Any]) -> Any:
    """Runs on a worker: `task(the value shared under name, batch)`."""
    return task(_values[name], batch)
