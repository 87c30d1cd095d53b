"""qcqp-relax: compile nonconvex QCQPs to sound convex relaxations (LP, Shor SDP, SDP-FO)."""

from qcqp.constraints import Complementarity, Constraint, complements
from qcqp.errors import InputError
from qcqp.expr import Affine, Quadratic
from qcqp.lifting import LiftIndex, lift
from qcqp.problem import IR, Problem
from qcqp.registry import BACKENDS, Registry, register_backend
from qcqp.result import Result, Status
from qcqp.variables import Variable

__all__ = [
    "IR", "Affine", "BACKENDS", "Complementarity", "Constraint", "InputError", "LiftIndex",
    "Problem", "Quadratic", "Registry", "Result", "Status", "Variable", "complements", "lift",
    "register_backend",
]
__version__ = "0.1.0"
