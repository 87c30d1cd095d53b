"""Relaxations and solvers. Each backend is a function ``solve(ir, **options) -> Result``
registered under its name (``lp``, ``sdp``, ``exact``) and advertised as an entry point."""
