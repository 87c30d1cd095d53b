"""sympy view of a compiled problem: the human surface, for small problems and checks."""

from __future__ import annotations

import numpy as np
import sympy

from qcqp.expr import Affine, Quadratic


def _symbols(ir) -> list[sympy.Symbol]:
    names = []
    for var in ir.variables:
        names += [var.name] if var.size == 1 else [f"{var.name}_{i}" for i in range(var.size)]
    return list(sympy.symbols(names, real=True))


def _affine_rows(expr: Affine, symbols) -> list[sympy.Expr]:
    A = expr.A.tocsr()
    rows = []
    for r in range(expr.size):
        cols, vals = A.indices[A.indptr[r]:A.indptr[r + 1]], A.data[A.indptr[r]:A.indptr[r + 1]]
        rows.append(sympy.nsimplify(expr.a[r], rational=False) +
                    sum(sympy.Float(v) * symbols[c] for c, v in zip(cols, vals)))
    return rows


def expression_to_sympy(expr: Affine | Quadratic, symbols) -> list[sympy.Expr]:
    """Each row of ``expr`` as a sympy expression in ``symbols``."""
    quad = expr if isinstance(expr, Quadratic) else Quadratic(expr)
    rows = _affine_rows(quad.affine, symbols)
    for term in quad.products:
        left, right = _affine_rows(term.left, symbols), _affine_rows(term.right, symbols)
        S = term.S.tocsr()
        for r in range(quad.size):
            for j, s in zip(S.indices[S.indptr[r]:S.indptr[r + 1]], S.data[S.indptr[r]:S.indptr[r + 1]]):
                rows[r] += sympy.Float(s) * left[j] * right[j]
    return [sympy.expand(row) for row in rows]


def to_sympy(ir) -> dict:
    """``{"objective": expr, "sense": "max"|"min", "constraints": {name: [relations]}}``."""
    symbols = _symbols(ir)
    objective = expression_to_sympy(ir.objective, symbols)[0] * ir.sign
    constraints = {}
    for con in ir.constraints:
        rows = expression_to_sympy(con.expr, symbols)
        relation = sympy.Le if con.sense == "<=" else sympy.Eq
        constraints[con.name] = [relation(row, 0) for row in rows]
    for comp in ir.complementarities:
        f, g = expression_to_sympy(comp.f, symbols), expression_to_sympy(comp.g, symbols)
        constraints[comp.name] = [rel for fi, gi in zip(f, g)
                                  for rel in (sympy.Ge(fi, 0), sympy.Ge(gi, 0), sympy.Eq(sympy.expand(fi * gi), 0))]
    bounds = {s: (lo, hi) for s, lo, hi in zip(symbols, ir.lower, ir.upper)
              if np.isfinite(lo) or np.isfinite(hi)}
    return {"objective": objective, "sense": "max" if ir.sign > 0 else "min",
            "constraints": constraints, "bounds": bounds}


def pretty(ir, max_variables: int = 40) -> str:
    """A readable multi-line rendering (a summary only for large problems)."""
    if ir.n > max_variables:
        kinds = ", ".join(f"{v.name}[{v.size}]" for v in ir.variables)
        return (f"QCQP with {ir.n} variables ({kinds}), {len(ir.constraints)} constraint blocks, "
                f"{len(ir.complementarities)} complementarity blocks")
    form = to_sympy(ir)
    lines = [f"{form['sense']}imize  {sympy.sstr(form['objective'])}", "subject to"]
    for name, relations in form["constraints"].items():
        lines += [f"  [{name}] {sympy.sstr(rel)}" for rel in relations]
    lines += [f"  {lo} <= {s} <= {hi}" for s, (lo, hi) in form["bounds"].items()]
    return "\n".join(lines)
