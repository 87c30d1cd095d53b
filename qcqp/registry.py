"""Name → object registries filled by decorators and by package entry points."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from qcqp.backend import as_backend
from qcqp.errors import InputError


class Registry:
    """A registry of plug-ins of one kind.

    Built-ins register with the :meth:`register` decorator when their modules are imported
    (``builtins`` names those modules; they are imported on first use, so the core needs no
    static import of them); third-party packages advertise plug-ins in the entry-point
    ``group`` and are imported only when asked for.
    """

    def __init__(self, kind: str, group: str, adapt: Callable[[str, Any], Any] | None = None,
                 builtins: tuple[str, ...] = ()):
        self.kind = kind
        self.group = group
        self.adapt = adapt  # turns what was registered into what ``get`` returns
        self.builtins = builtins
        self._items: dict[str, tuple[Any, Any]] = {}  # name -> (as registered, as returned)

    def _load_builtins(self) -> None:
        for module in self.builtins:
            import_module(module)

    def register(self, name: str, obj: Any = None) -> Callable[[Any], Any] | Any:
        """Register ``obj`` under ``name`` (usable as ``@registry.register("name")``)."""
        key = name.lower()

        def decorate(item: Any) -> Any:
            if key in self._items and self._items[key][0] is not item:
                raise InputError(f"{self.kind} {key!r} is already registered")
            self._items[key] = (item, self.adapt(key, item) if self.adapt else item)
            return item

        return decorate if obj is None else decorate(obj)

    def unregister(self, name: str) -> None:
        self._items.pop(name.lower(), None)

    def get(self, name: str) -> Any:
        """The plug-in called ``name``, loading its entry point on first use."""
        if not isinstance(name, str):
            raise InputError(f"{self.kind} name must be a string, got {type(name).__name__}")
        key = name.lower()
        self._load_builtins()
        if key not in self._items:
            for ep in entry_points(group=self.group, name=key):
                self.register(key, ep.load())  # the module's own decorator may have run
                break
        if key not in self._items:
            raise InputError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}")
        return self._items[key][1]

    def names(self) -> list[str]:
        """Names registered in-process or advertised by installed packages."""
        self._load_builtins()
        advertised = {ep.name for ep in entry_points(group=self.group)}
        return sorted(advertised | set(self._items))


BACKENDS = Registry("backend", "qcqp.backends", adapt=as_backend,
                    builtins=tuple(f"qcqp.backends.{name}" for name in ("exact", "lp", "sdp", "sdp_fo")))


def backends_taking(option: str) -> list[str]:
    """The registered backends with a named option ``option`` (e.g. ``"solver"``, ``"family"``)."""
    return [name for name in BACKENDS.names() if option in BACKENDS.get(name).option_names()]


def register_backend(name: str):
    """Decorator: register a :class:`~qcqp.backend.Backend` subclass (or a plain
    ``solve(ir, **options) -> Result`` function) as backend ``name``."""
    return BACKENDS.register(name)
