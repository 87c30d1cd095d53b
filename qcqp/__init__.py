"""qcqp-relax: compile nonconvex QCQPs to sound convex relaxations (LP, Shor SDP, SDP-FO)."""

from qcqp.backend import Backend, Relaxation
from qcqp.constraints import Complementarity, Constraint, complements
from qcqp.errors import InputError
from qcqp.expr import Affine, Quadratic, sum_squares
from qcqp.ir import IR
from qcqp.lifting import LiftIndex, lift
from qcqp.problem import Problem
from qcqp.registry import BACKENDS, Registry, register_backend
from qcqp.result import Result, Status
from qcqp.variables import Variable

__all__ = [
    "IR", "Affine", "BACKENDS", "Backend", "Complementarity", "Constraint", "InputError", "LiftIndex",
    "Problem", "Quadratic", "Registry", "Relaxation", "Result", "Status", "Variable", "complements",
    "lift", "register_backend", "sum_squares",
]
__version__ = "0.1.0"
