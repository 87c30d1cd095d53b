"""Relaxations and solvers. Each backend is a :class:`qcqp.Backend` registered under its name
(``lp``, ``sdp``, ``sdp-fo``, ``exact``) when its module is imported, which happens on the
first lookup in :data:`qcqp.BACKENDS`: importing one backend loads no other (nor, for ``lp``,
any SDP solver adapter)."""
