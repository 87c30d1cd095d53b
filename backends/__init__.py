"""Relaxations and solvers. Each backend is a :class:`qcqp.Backend` registered under its name
(``lp``, ``sdp``, ``sdp-fo``, ``exact``) when its module is imported, which happens on the
first lookup in :data:`qcqp.BACKENDS`."""

from qcqp.backends import exact, lp, sdp, sdp_fo  # noqa: F401  (registers the built-in backends)
