"""Descriptors, control lines and condition expressions of the syntax tables.

A descriptor is printed as in the standard (``u(8)``, ``ue(7)``, ``bs(u(8) * 8)``...); a control
line is ``if( cond )``, ``else if( cond )``, ``else``, ``for( ... )`` or ``while( ... )``.  Conditions
use the standard's C-like operators and are evaluated three-valued: an int when every name they use
has a value, ``None`` ("may or may not hold") otherwise.  Names that are not elements resolve to the
enum constants of :mod:`nnr.units.types`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from enum import IntEnum, IntFlag
from typing import Union

from nnr.units import types

DESCRIPTOR_KINDS = ("u", "i", "ue", "ie", "flt", "st", "bs", "ae", "iae", "uae")

_DESCRIPTOR_RE = re.compile(r"^([a-z_]+)\((.*)\)$")
_CONTROL_RE = re.compile(r"^(if|else\s+if|for|while)\s*\((.*)\)$|^(else)$")


def squash_space(s: str) -> str:
    """``s`` without any white space (how lines and descriptors are compared)."""
    return re.sub(r"\s+", "", s)


def parse_descriptor(desc: str) -> tuple[str, str] | None:
    """``"u(15 + 16 * x)"`` -> ``("u", "15+16*x")``; ``byte_alignment()`` -> ``("byte_alignment", "")``."""
    d = squash_space(desc)
    if d == "byte_alignment()":
        return ("byte_alignment", "")
    m = _DESCRIPTOR_RE.match(d)
    if not m or m.group(1) not in DESCRIPTOR_KINDS or not m.group(2):
        return None
    return (m.group(1), m.group(2))


def parse_control(line: str) -> tuple[str, str | None] | None:
    """``"if( a )"`` -> ``("if", "a")``; also ``else if``, ``else``, ``for``, ``while``."""
    m = _CONTROL_RE.match(line.strip())
    if not m:
        return None
    if m.group(3):
        return ("else", None)
    kind = re.sub(r"\s+", " ", m.group(1))
    return (kind, m.group(2).strip())


def _to_python(expr: str) -> str:
    e = expr.replace("&&", " and ").replace("||", " or ")
    return re.sub(r"!(?!=)", " not ", e)


def compile_expr(expr: str) -> ast.expr | None:
    try:
        return ast.parse(_to_python(expr).strip(), mode="eval").body
    except SyntaxError:
        return None


def enum_constants() -> dict[str, int]:
    """Member name -> value of every enum of :mod:`nnr.units.types` (``NNR_NDU``, ``NNR_PT_INT``...)."""
    out: dict[str, int] = {}
    for obj in vars(types).values():
        if isinstance(obj, type) and issubclass(obj, (IntEnum, IntFlag)) and obj not in (IntEnum, IntFlag):
            for m in obj:
                if m.name is not None:
                    out[m.name] = int(m.value)
    return out


Value = Union[int, None]
Lookup = Callable[[str], Value]


def evaluate(node: ast.expr, lookup: Lookup) -> Value:
    """Three-valued evaluation: an int (booleans as 0/1), or None when not determinable."""
    if isinstance(node, ast.Constant):
        return int(node.value) if isinstance(node.value, (int, bool)) else None
    if isinstance(node, ast.Name):
        return lookup(node.id)
    if isinstance(node, ast.UnaryOp):
        v = evaluate(node.operand, lookup)
        if isinstance(node.op, ast.Not):
            return None if v is None else int(not v)
        if isinstance(node.op, ast.USub):
            return None if v is None else -v
        return None
    if isinstance(node, ast.BoolOp):
        vals = [evaluate(v, lookup) for v in node.values]
        if isinstance(node.op, ast.And):
            if any(v is not None and not v for v in vals):
                return 0
            return None if any(v is None for v in vals) else 1
        if any(v is not None and v for v in vals):
            return 1
        return None if any(v is None for v in vals) else 0
    if isinstance(node, ast.BinOp):
        a, b = evaluate(node.left, lookup), evaluate(node.right, lookup)
        if a is None or b is None:
            return None
        ops: dict[type, Callable[[int, int], int]] = {
            ast.Add: lambda x, y: x + y, ast.Sub: lambda x, y: x - y, ast.Mult: lambda x, y: x * y,
            ast.LShift: lambda x, y: x << y, ast.RShift: lambda x, y: x >> y,
            ast.BitAnd: lambda x, y: x & y, ast.BitOr: lambda x, y: x | y,
        }
        fn = ops.get(type(node.op))
        return None if fn is None else fn(a, b)
    if isinstance(node, ast.Compare):
        left = evaluate(node.left, lookup)
        result: Value = 1
        for op, comp in zip(node.ops, node.comparators):
            right = evaluate(comp, lookup)
            if left is None or right is None:
                result = None if result != 0 else 0
            else:
                cmp: dict[type, Callable[[int, int], bool]] = {
                    ast.Eq: lambda x, y: x == y, ast.NotEq: lambda x, y: x != y, ast.Lt: lambda x, y: x < y,
                    ast.LtE: lambda x, y: x <= y, ast.Gt: lambda x, y: x > y, ast.GtE: lambda x, y: x >= y,
                }
                fn2 = cmp.get(type(op))
                if fn2 is None:
                    result = None if result != 0 else 0
                elif not fn2(left, right):
                    result = 0
            left = right
        return result
    return None  # calls, subscripts, ...


def descriptor_matches(table_desc: str, traced_desc: str, lookup: Lookup | None = None) -> bool:
    """Same kind; a literal argument must be equal, an expression equal when it can be evaluated."""
    a, b = parse_descriptor(table_desc), parse_descriptor(traced_desc)
    if a is None or b is None or a[0] != b[0]:
        return False
    if a[1] in ("", "v") or a[1] == b[1]:
        return True
    if re.fullmatch(r"\d+", a[1]):
        return False
    if not re.fullmatch(r"\d+", b[1]):
        return False
    expr = compile_expr(a[1])
    if expr is None or lookup is None:
        return True
    v = evaluate(expr, lookup)
    return v is None or v == int(b[1])
