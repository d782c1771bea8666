"""Detector SQL (DuckDB dialect) carried to other engines: Spark SQL, Trino/Athena.

sqlglot does most of the work; what it leaves DuckDB-shaped is rewritten here on the
syntax tree, each rewrite small and tested (tests/test_transpile.py):

- ``list(x ORDER BY k)`` (ordered aggregate): Spark's ``collect_list`` has no ORDER BY, so
  it becomes ``transform(array_sort(collect_list(struct(k.., x)), cmp), e -> e.v)`` with a
  comparator honouring ASC/DESC and NULLS FIRST/LAST; a FILTER moves onto the inner collect.
- ``arr[a:b]`` (1-based, inclusive) -> ``slice(arr, a, b - a + 1)``.
- ``first(x ORDER BY k)`` / ``last(..)`` -> ``element_at(<the ordered list>, 1 | -1)``.
- ``mode(x)`` / ``mode(x ORDER BY x)`` -> ``mode(x, true)`` (ties: the smallest value).
- ``time_bucket(interval, ts)`` -> arithmetic on epoch microseconds, same origin as DuckDB.
- ``to_timestamp(n)`` -> ``timestamp_seconds(n)``; ``epoch(ts)`` -> ``unix_micros(ts) / 1e6``; ``double // n`` -> ``/``.
- ``* EXCLUDE (..)`` / ``* REPLACE (..)``: expanded from ``schema`` (table -> column -> type).
- Calls of DuckDB expression macros (``CREATE MACRO name(a, b) AS expr``, the run's
  ``queries/_prep``) are replaced by the macro's body with the arguments substituted
  (:func:`parse_macro`, ``macros=``), before any other rewrite, so the body is rewritten too.
- ``regexp_replace(s, p, r, 'g')`` -> Java replacement syntax (``\\1`` -> ``$1``); without
  ``'g'`` DuckDB replaces the first match only, which Spark cannot say unless ``p`` is anchored.
- ``len(list)`` -> ``size(list)`` (Spark's ``length`` is for strings).

Anything left that the target cannot run raises :class:`TranspileError` naming the
construct: a detector that does not carry over is an error, never a silent skip.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

Dialect = Literal["spark", "trino"]
#: DuckDB's time_bucket origin for sub-month widths: Monday 2000-01-03 00:00 UTC, in microseconds.
_BUCKET_ORIGIN_US = 946_857_600_000_000
_MAX_PASSES = 6
_MAX_MACRO_DEPTH = 10


#: The statements a run's preparation holds (``queries/_prep``), as every engine reads them:
#: ``CREATE OR REPLACE [TEMP] TABLE|VIEW name AS query`` (groups: kind, name, query) ...
CREATE_RELATION = re.compile(
    r"\s*CREATE\s+OR\s+REPLACE\s+(?:TEMP\s+|TEMPORARY\s+)?(TABLE|VIEW)\s+(\w+)\s+AS\s+(.*)\Z", re.IGNORECASE | re.DOTALL
)
#: ... and ``CREATE [OR REPLACE] [TEMP] MACRO`` (:func:`parse_macro`), after the comments they open with.
CREATE_MACRO = re.compile(r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\s+|TEMPORARY\s+)?MACRO\b", re.IGNORECASE)
LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)


class TranspileError(ValueError):
    """The SQL uses a construct the target dialect cannot express (or sqlglot cannot parse)."""


@dataclass(frozen=True)
class Macro:
    """A DuckDB expression macro: ``CREATE MACRO name(params) AS body``."""

    name: str
    params: tuple[str, ...]
    body: exp.Expr


def parse_macro(sql: str) -> Macro:
    """``CREATE [OR REPLACE] [TEMP] MACRO name(a, b) AS expr`` as a :class:`Macro`.

    Only expression macros with plain parameters: a table macro, a parameter default or a
    ``$parameter`` in the body raises TranspileError (the call could not be rewritten in place).
    """
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except SqlglotError as e:
        raise TranspileError(f"sqlglot cannot parse the macro: {e}") from e
    if not isinstance(tree, exp.Create) or str(tree.args.get("kind") or "").upper() != "MACRO":
        raise TranspileError("not a CREATE MACRO statement")
    udf, body = tree.this, tree.expression
    if not isinstance(udf, exp.UserDefinedFunction) or body is None:
        raise TranspileError("CREATE MACRO without a name(parameters) AS expression")
    name = udf.this.name if isinstance(udf.this, exp.Table) else udf.name
    if isinstance(body, exp.Query):
        raise TranspileError(f"macro {name}: a table macro cannot be rewritten into an expression")
    params = []
    for p in udf.expressions:
        if not isinstance(p, (exp.Identifier, exp.Column)) or isinstance(p, exp.Column) and p.table:
            raise TranspileError(f"macro {name}: parameter {p.sql('duckdb')!r} (defaults are not supported)")
        params.append(p.name.lower())
    if body.find(exp.Placeholder):
        raise TranspileError(f"macro {name}: a $parameter in a macro body cannot be bound at the call")
    return Macro(name.lower(), tuple(params), body)


def expand_macros(tree: exp.Expr, macros: Mapping[str, Macro]) -> exp.Expr:
    """Every call of a macro replaced by its body (parenthesised), arguments substituted; nested calls too."""
    if not macros:
        return tree
    for _ in range(_MAX_MACRO_DEPTH):
        calls = [n for n in tree.find_all(exp.Anonymous) if n.name.lower() in macros]
        if not calls:
            return tree
        for call in calls:
            body = _macro_body(macros[call.name.lower()], list(call.expressions))
            if call is tree:
                tree = body
            else:
                call.replace(body)
    raise TranspileError(f"macros call each other more than {_MAX_MACRO_DEPTH} deep")


def _macro_body(macro: Macro, args: list[exp.Expr]) -> exp.Expr:
    if len(args) != len(macro.params):
        raise TranspileError(f"macro {macro.name}() takes {len(macro.params)} arguments, the call passes {len(args)}")
    values = dict(zip(macro.params, args, strict=True))

    def substitute(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and not node.table and node.name.lower() in values:
            return exp.Paren(this=values[node.name.lower()].copy())
        return node

    return exp.Paren(this=macro.body.copy().transform(substitute))


def split_shared_ctes(sql: str, prefix: str) -> tuple[list[tuple[str, str]], str]:
    """The statement's top-level CTEs that it reads more than once, split off as statements of their own.

    Returns ``([(view name, DuckDB SELECT), ...], the rest)``: run each SELECT in order and keep
    its rows as view ``prefix + cte name``, then run the rest, which reads those views where it
    read the CTEs. DuckDB materialises such CTEs; Spark inlines every deterministic CTE at each
    reference, so a chain of CTEs read twice each grows the plan (and the work) exponentially.
    CTEs read once stay inline (copied into the statements that read them). A statement that
    does not parse, or has no such CTE, comes back whole.
    """
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except SqlglotError:
        return [], sql
    with_ = tree.args.get("with_")
    if not isinstance(with_, exp.With) or with_.args.get("recursive"):
        return [], sql
    ctes: list[exp.CTE] = list(with_.expressions)
    names = {c.alias.lower() for c in ctes}
    refs = Counter(t.name.lower() for t in tree.find_all(exp.Table) if not t.args.get("db") and t.name.lower() in names)
    views = {c.alias.lower(): f"{prefix}{c.alias.lower()}" for c in ctes if refs[c.alias.lower()] >= 2}
    if not views:
        return [], sql
    for t in list(tree.find_all(exp.Table)):
        if not t.args.get("db") and t.name.lower() in views:
            if not t.alias:
                t.set("alias", exp.TableAlias(this=exp.to_identifier(t.name)))
            t.set("this", exp.to_identifier(views[t.name.lower()]))
    pieces: list[tuple[str, str]] = []
    inline: list[exp.CTE] = []
    for cte in ctes:
        name = cte.alias.lower()
        if name not in views:
            inline.append(cte)
            continue
        query = cte.this.copy()
        if inline:
            own = query.args.get("with_")
            query.set("with_", exp.With(expressions=[c.copy() for c in inline] + (list(own.expressions) if own else [])))
        pieces.append((views[name], query.sql(dialect="duckdb")))
    if inline:
        with_.set("expressions", inline)
    else:
        tree.set("with_", None)
    return pieces, tree.sql(dialect="duckdb")


def to_dialect(
    sql: str,
    dialect: Dialect,
    schema: Mapping[str, Mapping[str, str]] | None = None,
    macros: Mapping[str, Macro] | None = None,
) -> str:
    """``sql`` (DuckDB) rewritten for ``dialect``; raises TranspileError when it cannot be.

    ``macros`` (name -> :class:`Macro`): DuckDB macros the SQL may call, expanded in place.
    """
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except SqlglotError as e:
        raise TranspileError(f"sqlglot cannot parse the DuckDB SQL: {e}") from e
    tree = expand_macros(tree, macros or {})
    if _has_star_modifiers(tree):
        if not schema:
            raise TranspileError("SELECT * EXCLUDE/REPLACE needs the table schemas to be expanded")
        tree = _expand_stars(tree, schema)
    # A rewritten node's new children are not visited in the same pass (nested list_slice,
    # a list() inside a list()), so passes repeat until nothing changes.
    for _ in range(_MAX_PASSES):
        before = _text(tree, dialect)
        for rewrite in _REWRITES.get(dialect, ()):
            tree = tree.transform(rewrite, copy=False)
        if _text(tree, dialect) == before:
            break
    if dialect == "trino":
        types = {c: t for cols in (schema or {}).values() for c, t in cols.items()}
        tree = tree.transform(_trino_struct(types), copy=False)
    try:
        return tree.sql(dialect=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE)
    except SqlglotError as e:
        raise TranspileError(f"cannot express in {dialect}: {e}") from e


def _text(tree: exp.Expr, dialect: Dialect) -> str:
    """The tree as text, to see whether a pass changed it (Trino's lambdas warn when written as DuckDB)."""
    if dialect == "trino":
        return tree.sql(dialect="trino", unsupported_level=sqlglot.ErrorLevel.IGNORE)
    return tree.sql(dialect="duckdb")


def _has_star_modifiers(tree: exp.Expr) -> bool:
    return any(s.args.get("except_") or s.args.get("replace") for s in tree.find_all(exp.Star))


def _expand_stars(tree: exp.Expr, schema: Mapping[str, Mapping[str, str]]) -> exp.Expr:
    from sqlglot.optimizer.qualify import qualify

    try:
        return qualify(
            tree, schema={t: dict.fromkeys(cols, "VARCHAR") for t, cols in schema.items()}, dialect="duckdb", expand_stars=True,
            validate_qualify_columns=False, quote_identifiers=False, identify=False,
        )  # fmt: skip
    except SqlglotError as e:
        raise TranspileError(f"cannot expand SELECT * EXCLUDE/REPLACE: {e}") from e


def _fn(name: str, *args: exp.Expr) -> exp.Expr:
    """A Spark function call kept as written (sqlglot's own classes might be rewritten again)."""
    return exp.Anonymous(this=name, expressions=list(args))


def _spark(fragment: str) -> exp.Expr:
    return _parse(fragment, "spark")


def _parse(fragment: str, dialect: Dialect) -> exp.Expr:
    return sqlglot.parse_one(fragment, read=dialect)


def _ordered_agg(node: exp.Expr) -> exp.Order | None:
    """The ORDER BY of ``list(x ORDER BY k)`` at ``node`` (itself, or under its FILTER); None when
    ``node`` is not one, or is one whose FILTER parent handles it (so the FILTER moves inside)."""
    inner = node.this if isinstance(node, exp.Filter) else node
    if not isinstance(inner, exp.ArrayAgg) or not isinstance(inner.this, exp.Order):
        return None
    if inner is node and isinstance(node.parent, exp.Filter):
        return None
    return inner.this


def _ordered_list(node: exp.Expr) -> exp.Expr:
    """``list(x ORDER BY k...)`` -> sorted collect_list of structs, then the values."""
    order = _ordered_agg(node)
    if order is None:
        return node
    value = order.this
    distinct = isinstance(value, exp.Distinct)
    if distinct:
        value = value.expressions[0]
    keys: list[exp.Ordered] = list(order.expressions)
    if distinct:
        if len(keys) != 1 or keys[0].this != value:
            raise TranspileError("list(DISTINCT x ORDER BY y) with y other than x")
        collect: exp.Expr = _fn("collect_set", value.copy())
        if isinstance(node, exp.Filter):
            collect = exp.Filter(this=collect, expression=node.expression.copy())
        cmp = _lambda(["l", "r"], _cmp_case("l", "r", bool(keys[0].args.get("desc")), _nulls_first(keys[0])))
        return _fn("array_sort", collect, cmp)
    fields = [exp.alias_(k.this.copy(), f"k{i}") for i, k in enumerate(keys)] + [exp.alias_(value.copy(), "v")]
    collect = _fn("collect_list", exp.Struct(expressions=fields))
    if isinstance(node, exp.Filter):
        collect = exp.Filter(this=collect, expression=node.expression.copy())
    cmp = _comparator_fields(keys)  # compares the struct fields k0, k1, ...
    return _fn("transform", _fn("array_sort", collect, cmp), _lambda(["e"], "e.v"))


def _first_last_ordered(node: exp.Expr) -> exp.Expr:
    """``first(x ORDER BY k)`` / ``last(..)`` [FILTER]: Spark's first/last take no ORDER BY; the ends of the ordered list."""
    inner = node.this if isinstance(node, exp.Filter) else node
    if not isinstance(inner, (exp.First, exp.Last)) or not isinstance(inner.this, exp.Order):
        return node
    if inner is node and isinstance(node.parent, exp.Filter):
        return node  # handled from the Filter node, so the FILTER moves onto the list
    ordered: exp.Expr = exp.ArrayAgg(this=inner.this.copy())
    if isinstance(node, exp.Filter):
        ordered = exp.Filter(this=ordered, expression=node.expression.copy())
    return _fn("element_at", ordered, exp.Literal.number(1 if isinstance(inner, exp.First) else -1))


def _comparator_fields(keys: list[exp.Ordered]) -> exp.Expr:
    parts = [
        _cmp_case(f"l.k{i}", f"r.k{i}", bool(k.args.get("desc")), _nulls_first(k)) for i, k in enumerate(keys)
    ]
    body = "0"
    for part in reversed(parts):
        body = f"CASE WHEN ({part}) <> 0 THEN ({part}) ELSE {body} END"
    return _lambda(["l", "r"], body)


def _lambda(args: list[str], body: str) -> exp.Expr:
    return exp.Lambda(this=_spark(body), expressions=[exp.to_identifier(a) for a in args])


def _nulls_first(k: exp.Ordered) -> bool:
    return bool(k.args.get("nulls_first"))


def _cmp_case(a: str, b: str, desc: bool, nulls_first: bool) -> str:
    lt, gt = ("1", "-1") if desc else ("-1", "1")
    null_a = "-1" if nulls_first else "1"
    return (
        f"CASE WHEN {a} IS NULL AND {b} IS NULL THEN 0 WHEN {a} IS NULL THEN {null_a} "
        f"WHEN {b} IS NULL THEN {-int(null_a)} WHEN {a} < {b} THEN {lt} WHEN {a} > {b} THEN {gt} ELSE 0 END"
    )


def _slice(node: exp.Expr) -> exp.Expr:
    """``arr[a:b]`` (DuckDB: 1-based, both ends inclusive) -> ``slice(arr, a, b - a + 1)``."""
    if not isinstance(node, exp.Bracket) or len(node.expressions) != 1 or not isinstance(node.expressions[0], exp.Slice):
        return node
    s: exp.Slice = node.expressions[0]
    lo, hi = s.this, s.expression
    if lo is None or hi is None:
        raise TranspileError("open-ended list slice [a:] / [:b]")
    length = exp.Add(this=exp.Sub(this=exp.Paren(this=hi.copy()), expression=exp.Paren(this=lo.copy())), expression=exp.Literal.number(1))
    return _fn("slice", node.this.copy(), lo.copy(), exp.Paren(this=length))


def _list_slice(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Anonymous) and node.name.lower() == "list_slice" and len(node.expressions) == 3:
        arr, lo, hi = node.expressions
        return _slice(exp.Bracket(this=arr.copy(), expressions=[exp.Slice(this=lo.copy(), expression=hi.copy())]))
    return node


def _mode_argument(node: exp.Mode) -> exp.Expr:
    """The x of ``mode(x)`` / ``mode(x ORDER BY x)`` (ties to the smallest value on both targets)."""
    arg = node.this
    if isinstance(arg, exp.Order):
        keys = arg.expressions
        if len(keys) != 1 or keys[0].this != arg.this or keys[0].args.get("desc"):
            raise TranspileError("mode(x ORDER BY y) other than ORDER BY x ascending")
        arg = arg.this
    return arg


def _mode(node: exp.Expr) -> exp.Expr:
    """DuckDB's mode picks any of tied values; Spark's deterministic mode the smallest."""
    if not isinstance(node, exp.Mode):
        return node
    return exp.Anonymous(this="mode", expressions=[_mode_argument(node).copy(), exp.true()])


def _time_bucket(node: exp.Expr) -> exp.Expr:
    """``time_bucket(width, ts)``: floor to width from DuckDB's origin (2000-01-03), in microseconds."""
    if not isinstance(node, exp.DateBin):
        return node
    if any(node.args.get(k) is not None for k in node.args if k not in ("this", "expression")):
        raise TranspileError("time_bucket with an origin or offset argument")
    width, ts = node.this, node.expression
    w = f"unix_micros(TIMESTAMP '1970-01-01 00:00:00' + ({width.sql('spark')}))"
    t = f"unix_micros({ts.sql('spark')})"
    o = _BUCKET_ORIGIN_US
    return _spark(f"timestamp_micros(floor(({t} - {o}) / {w}) * {w} + {o})")


def _float_int_div(node: exp.Expr) -> exp.Expr:
    """``x // n`` on a DOUBLE (``epoch(ts) // 300``): DuckDB divides (no flooring); Spark's DIV takes integers only."""
    if isinstance(node, exp.IntDiv) and not isinstance(node.this, exp.Cast) and node.this.find(exp.TimeToUnix, exp.Div):
        return exp.Div(this=exp.Paren(this=node.this.copy()), expression=exp.Paren(this=node.expression.copy()))
    return node


def _timestamps(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.UnixToTime) and not node.args.get("scale") and not node.args.get("format"):
        return _fn("timestamp_seconds", node.this.copy())
    if isinstance(node, exp.TimeToUnix):
        return exp.Div(this=_fn("unix_micros", node.this.copy()), expression=exp.Literal.number("1e6"))
    if isinstance(node, exp.Anonymous) and node.name.lower() == "to_minutes" and len(node.expressions) == 1:
        return _spark(f"make_dt_interval(0, 0, {node.expressions[0].sql('spark')}, 0)")
    return node


def _functions(node: exp.Expr) -> exp.Expr:
    """Functions whose DuckDB meaning Spark spells differently."""
    if isinstance(node, exp.IgnoreNulls) and isinstance(node.this, exp.AnyValue):
        return exp.Anonymous(this="any_value", expressions=[node.this.this.copy(), exp.true()])
    if isinstance(node, exp.AnyValue) and not isinstance(node.parent, exp.IgnoreNulls):
        return exp.Anonymous(this="any_value", expressions=[node.this.copy(), exp.true()])  # DuckDB skips NULLs
    if isinstance(node, (exp.ArgMax, exp.ArgMin)) and isinstance(node.expression, exp.Tuple):
        key = exp.Struct(expressions=[e.copy() for e in node.expression.expressions])
        return _fn("max_by" if isinstance(node, exp.ArgMax) else "min_by", node.this.copy(), key)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "hash":
        return exp.Anonymous(this="xxhash64", expressions=[e.copy() for e in node.expressions])
    if isinstance(node, exp.TimeToStr) and isinstance(node.args.get("format"), exp.Literal):
        return _fn("date_format", node.this.copy(), exp.Literal.string(_java_format(node.args["format"].this)))
    return node


_STRFTIME = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss", "%f": "SSSSSS", "%%": "%"}


def _java_format(fmt: str) -> str:
    """A strftime format as a Java DateTimeFormatter pattern (literal text quoted)."""
    out, lit, i = [], "", 0
    while i < len(fmt):
        code = fmt[i : i + 2]
        if code in _STRFTIME:
            if lit:
                out.append("'" + lit.replace("'", "''") + "'")
                lit = ""
            out.append(_STRFTIME[code])
            i += 2
        elif fmt[i] == "%":
            raise TranspileError(f"strftime code {code!r} has no Spark rewrite")
        else:
            lit += fmt[i] if fmt[i].isalpha() or fmt[i] == "'" else ""
            if not (fmt[i].isalpha() or fmt[i] == "'"):
                if lit:
                    out.append("'" + lit.replace("'", "''") + "'")
                    lit = ""
                out.append(fmt[i])
            i += 1
    if lit:
        out.append("'" + lit.replace("'", "''") + "'")
    return "".join(out)


def _row_in(node: exp.Expr) -> exp.Expr:
    """``(a, b) IN (SELECT (x, y) FROM ..)``: DuckDB compares rows; Spark wants the columns apart."""
    if isinstance(node, exp.In) and isinstance(node.this, exp.Tuple):
        query = node.args.get("query")
        select = query.this if isinstance(query, exp.Subquery) else query
        if isinstance(select, exp.Select) and len(select.expressions) == 1 and isinstance(select.expressions[0], exp.Tuple):
            select.set("expressions", [e.copy() for e in select.expressions[0].expressions])
    return node


def _window_operand(node: exp.Expr) -> exp.Expr:
    """``sum(x) OVER w - y``: Spark's parser reads ``w - y`` as one name; parenthesise the window call."""
    if isinstance(node, exp.Window) and isinstance(node.parent, exp.Binary) and not node.args.get("spec"):
        return exp.Paren(this=node.copy())
    return node


def _regexp_replace(node: exp.Expr) -> exp.Expr:
    """DuckDB (RE2) ``regexp_replace(s, p, r, 'g')``: Java's replacement (Spark, Trino) spells groups ``$1``."""
    if not isinstance(node, exp.RegexpReplace):
        return node
    mods = node.args.get("modifiers")
    pattern, repl = node.args.get("expression"), node.args.get("replacement")
    if mods is not None and (not isinstance(mods, exp.Literal) or mods.this != "g"):
        raise TranspileError(f"regexp_replace options {mods.sql('duckdb')} have no Spark/Trino rewrite (only 'g')")
    if mods is None and not (isinstance(pattern, exp.Literal) and pattern.this.startswith("^")):
        raise TranspileError("regexp_replace without 'g' replaces the first match only; Spark and Trino replace all")
    if repl is not None and not isinstance(repl, exp.Literal):
        raise TranspileError("regexp_replace with a computed replacement")
    java = _java_replacement(repl.this if repl is not None else "")
    return _fn("regexp_replace", node.this.copy(), pattern.copy() if pattern else exp.Literal.string(""), exp.Literal.string(java))


def _java_replacement(text: str) -> str:
    """RE2's ``\\N`` group references and ``\\\\`` as Java's ``$N`` and ``\\\\``; a literal ``$`` escaped."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(f"${nxt}" if nxt.isdigit() else "\\\\" if nxt == "\\" else nxt)
            i += 2
            continue
        out.append("\\$" if c == "$" else c)
        i += 1
    return "".join(out)


_ARRAY_VALUED = (exp.Split, exp.Array, exp.ArrayConcat, exp.StringToArray)


def _list_length(node: exp.Expr) -> exp.Expr:
    """``len(list)``: Spark's ``length`` takes strings; a list (as written: split, literal, concat) takes ``size``."""
    if isinstance(node, exp.Length) and isinstance(node.this, _ARRAY_VALUED):
        return _fn("size", node.this.copy())
    return node


def _no_cte_hints(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        node.set("materialized", None)
    return node


def _unsupported(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Anonymous) and node.name.lower() in _NO_SPARK:
        raise TranspileError(f"DuckDB function {node.name}() has no Spark rewrite")
    return node


_NO_SPARK = {"list_distinct_by", "struct_pack", "list_transform"}

# --- Trino (Athena engine v3) ---------------------------------------------------------
# Trino has ordered aggregates (``array_agg(x ORDER BY k)``), FILTER and ``slice``; what
# sqlglot's trino generator leaves DuckDB-shaped is rewritten here:
# - ``first(x ORDER BY k)`` / ``last(..)`` -> ``element_at(array_agg(x ORDER BY k), 1 | -1)``;
# - ``mode(x)`` -> the most frequent key of ``histogram(x)``, ties to the smallest (as on Spark);
# - ``median(x)`` -> ``approx_percentile(x, 0.5)`` (Trino has no exact median);
# - ``any_value(x)`` -> ``arbitrary(x)`` (both skip NULLs); ``contains(str, s)`` -> ``strpos(..) > 0``;
# - ``time_bucket(w, ts)`` -> epoch-second arithmetic from DuckDB's origin;
# - ``to_minutes(n)`` -> ``n * INTERVAL '1' MINUTE``; ``hash(a, ..)`` -> xxhash64 of the values' text;
# - ``arg_max(x, (a, b))`` -> ``max_by(x, ROW(a, b))``; ``len(list)`` -> ``cardinality``;
# - ``regexp_replace(s, p, r, 'g')`` -> Java replacement syntax (Trino replaces every match);
# - ``{'k': v, ..}`` -> ``CAST(ROW(v, ..) AS ROW(k type, ..))`` (:func:`_trino_struct`).


def _trino(fragment: str) -> exp.Expr:
    return _parse(fragment, "trino")


def _trino_distinct_list(node: exp.Expr) -> exp.Expr:
    """``list(DISTINCT x ORDER BY x)`` -> ``array_sort(array_agg(DISTINCT x))`` (Trino sorts NULLs last)."""
    order = _ordered_agg(node)
    if order is None or not isinstance(order.this, exp.Distinct):
        return node
    value = order.this.expressions[0]
    keys = list(order.expressions)
    if len(keys) != 1 or keys[0].this != value:
        raise TranspileError("list(DISTINCT x ORDER BY y) with y other than x")
    collect: exp.Expr = exp.ArrayAgg(this=exp.Distinct(expressions=[value.copy()]))
    if isinstance(node, exp.Filter):
        collect = exp.Filter(this=collect, expression=node.expression.copy())
    sorted_ = _fn("array_sort", collect)
    return _fn("reverse", sorted_) if keys[0].args.get("desc") else sorted_


def _trino_functions(node: exp.Expr) -> exp.Expr:
    """Functions whose DuckDB meaning Trino spells differently."""
    if isinstance(node, exp.Mode):
        x = _mode_argument(node).sql("trino")
        return _trino(
            f"element_at(array_sort(map_entries(histogram({x})), (l, r) -> CASE WHEN l[2] > r[2] THEN -1 "
            f"WHEN l[2] < r[2] THEN 1 WHEN l[1] < r[1] THEN -1 WHEN l[1] > r[1] THEN 1 ELSE 0 END), 1)[1]"
        )
    if isinstance(node, exp.Median):
        return _fn("approx_percentile", node.this.copy(), exp.Literal.number("0.5"))
    if isinstance(node, exp.IgnoreNulls) and isinstance(node.this, exp.AnyValue):
        return _fn("arbitrary", node.this.this.copy())
    if isinstance(node, exp.AnyValue):
        return _fn("arbitrary", node.this.copy())
    if isinstance(node, exp.Contains):
        return exp.GT(this=_fn("strpos", node.this.copy(), node.expression.copy()), expression=exp.Literal.number(0))
    if isinstance(node, (exp.ArgMax, exp.ArgMin)):
        key = node.expression
        if isinstance(key, exp.Tuple):
            key = _fn("ROW", *[e.copy() for e in key.expressions])
        return _fn("max_by" if isinstance(node, exp.ArgMax) else "min_by", node.this.copy(), key.copy())
    if isinstance(node, exp.DateBin):
        if any(node.args.get(k) is not None for k in node.args if k not in ("this", "expression")):
            raise TranspileError("time_bucket with an origin or offset argument")
        width, ts = node.this.sql("trino"), node.expression.sql("trino")
        w = f"to_unixtime(TIMESTAMP '1970-01-01 00:00:00 UTC' + {width})"
        o = _BUCKET_ORIGIN_US // 1_000_000
        return _trino(f"from_unixtime(floor((to_unixtime({ts}) - {o}) / {w}) * {w} + {o})")
    if isinstance(node, exp.Anonymous) and node.name.lower() == "to_minutes" and len(node.expressions) == 1:
        return exp.Mul(this=exp.Paren(this=node.expressions[0].copy()), expression=_trino("INTERVAL '1' MINUTE"))
    if isinstance(node, exp.Anonymous) and node.name.lower() == "hash":
        parts = ", ".join(f"CAST({e.sql('trino')} AS VARCHAR)" for e in node.expressions)
        return _trino(f"from_big_endian_64(xxhash64(to_utf8(concat_ws('|', {parts}))))")
    if isinstance(node, exp.Length) and isinstance(node.this, _ARRAY_VALUED):
        return _fn("cardinality", node.this.copy())
    if isinstance(node, exp.Anonymous) and node.name.lower() in _NO_TRINO:
        raise TranspileError(f"DuckDB function {node.name}() has no Trino rewrite")
    return node


def _trino_struct(types: Mapping[str, str]) -> Callable[[exp.Expr], exp.Expr]:
    """``{'k': v}`` as a typed ROW: a column keeps its type from ``types`` (column -> SQL type), anything else is VARCHAR."""

    def rewrite(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Struct) or not all(isinstance(e, exp.PropertyEQ) for e in node.expressions):
            return node
        values, fields = [], []
        for e in node.expressions:
            name, value = e.this.name, e.expression
            col_type = types.get(value.name) if isinstance(value, exp.Column) else None
            if col_type is None:
                col_type, value = "VARCHAR", exp.cast(value.copy(), "VARCHAR")
            values.append(value.copy())
            fields.append(f"{exp.to_identifier(name).sql('trino')} {col_type}")
        return exp.Cast(this=_fn("ROW", *values), to=exp.DataType.build(f"ROW({', '.join(fields)})", dialect="trino"))

    return rewrite


_NO_TRINO = {"list_distinct_by", "struct_pack", "list_transform"}

_REWRITES: dict[str, tuple[Callable[[exp.Expr], exp.Expr], ...]] = {
    "spark": (_no_cte_hints, _window_operand, _row_in, _functions, _first_last_ordered, _ordered_list, _slice, _list_slice, _mode, _time_bucket,
              _float_int_div, _timestamps, _regexp_replace, _list_length, _unsupported),
    "trino": (_no_cte_hints, _row_in, _first_last_ordered, _trino_distinct_list, _slice, _list_slice, _trino_functions,
              _regexp_replace),
}
