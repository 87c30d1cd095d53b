"""Name → object registries filled by decorators and by package entry points."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from qcqp.errors import InputError


class Registry:
    """A registry of plug-ins of one kind.

    In-process code registers with the :meth:`register` decorator; installed packages
    advertise plug-ins in the entry-point ``group`` and are imported only when asked for.
    """

    def __init__(self, kind: str, group: str):
        self.kind = kind
        self.group = group
        self._items: dict[str, Any] = {}

    def register(self, name: str, obj: Any = None) -> Callable[[Any], Any] | Any:
        """Register ``obj`` under ``name`` (usable as ``@registry.register("name")``)."""
        key = name.lower()

        def decorate(item: Any) -> Any:
            if key in self._items and self._items[key] is not item:
                raise InputError(f"{self.kind} {key!r} is already registered")
            self._items[key] = item
            return item

        return decorate if obj is None else decorate(obj)

    def unregister(self, name: str) -> None:
        self._items.pop(name.lower(), None)

    def get(self, name: str) -> Any:
        """The plug-in called ``name``, loading its entry point on first use."""
        if not isinstance(name, str):
            raise InputError(f"{self.kind} name must be a string, got {type(name).__name__}")
        key = name.lower()
        if key not in self._items:
            for ep in entry_points(group=self.group, name=key):
                self.register(key, ep.load())  # the module's own decorator may have run
                break
        if key not in self._items:
            raise InputError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}")
        return self._items[key]

    def names(self) -> list[str]:
        """Names registered in-process or advertised by installed packages."""
        advertised = {ep.name for ep in entry_points(group=self.group)}
        return sorted(advertised | set(self._items))


BACKENDS = Registry("backend", "qcqp.backends")


def register_backend(name: str):
    """Decorator: register ``solve(ir: IR, **options) -> Result`` as backend ``name``."""
    return BACKENDS.register(name)
