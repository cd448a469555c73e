"""The syntax tables of ``syntax/`` (one TOML file per syntax structure) and a trace checker.

The tables are data, written the way the standard prints its syntax tables: per structure, rows in
order, each an element (name, descriptor) or a call of a sub-structure, under the ``if`` / ``else`` /
``for`` / ``while`` lines that enclose it (``cond``, outermost first).  See ``docs/syntax_format.rst``
for the file format.

* :mod:`nnr.syntax.model`: rows, tables, the whole syntax; rows grouped into ``if`` / loop blocks.
* :mod:`nnr.syntax.loader`: :func:`load` (from the package, see :func:`default_syntax_dir`), :func:`validate`.
* :mod:`nnr.syntax.expressions`: descriptors, control lines, three-valued condition evaluation.
* :mod:`nnr.syntax.checker`: :func:`check_trace`, a reader's or writer's trace against the tables.
"""

from nnr.syntax.checker import UNIT_START, TraceReport, check_trace
from nnr.syntax.expressions import DESCRIPTOR_KINDS, descriptor_matches, evaluate, parse_control, parse_descriptor
from nnr.syntax.loader import (
    PACKAGED_SYNTAX_DIR,
    SOURCE_SYNTAX_DIR,
    default_syntax_dir,
    load,
    load_table,
    resolve_code,
    untraced_rows,
    validate,
)
from nnr.syntax.model import (
    BUILTIN_CALLS,
    STATUS_MARKS,
    TOP_STRUCTURE,
    Block,
    Chain,
    Node,
    Row,
    Section,
    Syntax,
    Table,
    TraceAlias,
    build_tree,
)

__all__ = [
    "BUILTIN_CALLS", "DESCRIPTOR_KINDS", "PACKAGED_SYNTAX_DIR", "SOURCE_SYNTAX_DIR", "STATUS_MARKS", "TOP_STRUCTURE",
    "UNIT_START", "Block", "Chain", "Node", "Row", "Section", "Syntax", "Table", "TraceAlias", "TraceReport",
    "build_tree", "check_trace", "default_syntax_dir", "descriptor_matches", "evaluate", "load", "load_table",
    "parse_control", "parse_descriptor", "resolve_code", "untraced_rows", "validate",
]
