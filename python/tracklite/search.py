"""MLflow's search grammar: filter strings and order_by clauses, parsed and compiled to SQL.

``parse_filter`` turns a filter string into a small tree; ``compile_run_search`` turns
that tree, the order_by clauses and the paging window into one parameterised SQL query
over the store's tables. No text from a filter, an order_by clause or a key reaches the
SQL text: keys and values travel as bind parameters, and the SQL is built only from
fixed fragments chosen by the parser. The grammar and its semantics are documented in
``docs/search.md``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tracklite.errors import InvalidParameterValue
from tracklite.store.run_tables import RUN_COLUMNS

Kind = Literal["metric", "param", "tag", "attribute"]

_PREFIXES: dict[str, Kind] = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
_KEYWORDS = {"AND", "OR", "LIKE", "ILIKE", "IN", "NOT", "IS", "NULL", "ASC", "DESC"}
_NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE")

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<op><=|>=|!=|=|<|>)
  | (?P<punct>[(),])
  | (?P<squote>'(?:[^']|'')*')
  | (?P<dquote>"(?:[^"]|"")*")
  | (?P<bquote>`[^`]*`)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<word>[A-Za-z_][\w.\-:/]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token of a filter: its kind, text and position (0-based)."""

    kind: str
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class Identifier:
    """``metrics.loss``, ``params."my key"``, ``status`` ...: what a comparison or sort is on."""

    kind: Kind
    key: str


@dataclass(frozen=True, slots=True)
class Comparison:
    """``identifier op value``; ``values`` holds one value, several (IN) or none (IS NULL)."""

    ident: Identifier
    op: str
    values: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class BoolOp:
    """``AND`` or ``OR`` over two or more operands."""

    op: Literal["AND", "OR"]
    operands: tuple[Node, ...] = field(default_factory=tuple)


Node = Comparison | BoolOp


@dataclass(frozen=True, slots=True)
class EntitySchema:
    """Which identifiers a searchable entity has, and their types."""

    name: str
    string_attributes: frozenset[str]
    numeric_attributes: frozenset[str]
    in_attributes: frozenset[str]
    kinds: frozenset[str]


RUNS = EntitySchema(
    name="runs",
    string_attributes=frozenset({"run_id", "run_name", "status", "user_id", "artifact_uri"}),
    numeric_attributes=frozenset({"start_time", "end_time"}),
    in_attributes=frozenset({"run_id", "run_name", "status", "user_id", "artifact_uri"}),
    kinds=frozenset({"metric", "param", "tag", "attribute"}),
)
LOGGED_MODELS = EntitySchema(
    name="logged models",
    string_attributes=frozenset({"name", "model_id", "model_type", "status", "source_run_id"}),
    numeric_attributes=frozenset({"creation_timestamp", "last_updated_timestamp"}),
    in_attributes=frozenset({"name", "model_id", "model_type", "status", "source_run_id"}),
    kinds=frozenset({"tag", "param", "attribute"}),
)
EXPERIMENTS = EntitySchema(
    name="experiments",
    string_attributes=frozenset({"name", "experiment_id"}),
    numeric_attributes=frozenset({"creation_time", "last_update_time"}),
    in_attributes=frozenset({"name", "experiment_id"}),
    kinds=frozenset({"tag", "attribute"}),
)
REGISTERED_MODELS = EntitySchema(
    name="registered models",
    string_attributes=frozenset({"name"}),
    numeric_attributes=frozenset({"creation_timestamp", "last_updated_timestamp"}),
    in_attributes=frozenset({"name"}),
    kinds=frozenset({"tag", "attribute"}),
)
MODEL_VERSIONS = EntitySchema(
    name="model versions",
    string_attributes=frozenset({"name", "run_id", "source_path", "user_id", "current_stage"}),
    numeric_attributes=frozenset({"version_number", "creation_timestamp", "last_updated_timestamp"}),
    in_attributes=frozenset({"name", "run_id", "source_path", "user_id", "current_stage"}),
    kinds=frozenset({"tag", "attribute"}),
)


def _error(text: str, message: str, pos: int | None = None) -> InvalidParameterValue:
    where = f" at position {pos}" if pos is not None else ""
    return InvalidParameterValue(f"Invalid filter '{text}': {message}{where}. The grammar is in docs/search.md.")


def tokenize(text: str) -> list[Token]:
    """Split a filter or order_by clause into tokens.

    Raises:
        InvalidParameterValue: at the first character that starts no token.
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            snippet = text[pos : pos + 10]
            if text[pos] in "'\"`":
                raise _error(text, f"unclosed quote {snippet!r}", pos)
            raise _error(text, f"unexpected {snippet!r}", pos)
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    return tokens


def _unquote(tok: Token) -> str:
    body = tok.text[1:-1]
    if tok.kind == "squote":
        return body.replace("''", "'")
    if tok.kind == "dquote":
        return body.replace('""', '"')
    return body


class _Parser:
    def __init__(self, text: str, schema: EntitySchema) -> None:
        self.text = text
        self.schema = schema
        self.tokens = tokenize(text)
        self.i = 0

    # -- token access -----------------------------------------------------------------

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self, expected: str) -> Token:
        tok = self.peek()
        if tok is None:
            raise _error(self.text, f"expected {expected} but the filter ended", len(self.text))
        self.i += 1
        return tok

    def at_keyword(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "word" and tok.text.upper() in words

    def fail(self, tok: Token, message: str) -> InvalidParameterValue:
        return _error(self.text, f"{message}, found {tok.text!r}", tok.pos)

    # -- grammar ------------------------------------------------------------------------

    def parse(self) -> Node | None:
        if not self.tokens:
            return None
        node = self.or_expr()
        tok = self.peek()
        if tok is not None:
            raise self.fail(tok, "expected AND, OR or the end of the filter")
        return node

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.at_keyword("OR"):
            self.i += 1
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else BoolOp("OR", tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.operand()]
        while self.at_keyword("AND"):
            self.i += 1
            operands.append(self.operand())
        return operands[0] if len(operands) == 1 else BoolOp("AND", tuple(operands))

    def operand(self) -> Node:
        tok = self.peek()
        if tok is not None and tok.kind == "punct" and tok.text == "(":
            self.i += 1
            node = self.or_expr()
            close = self.next("')'")
            if close.text != ")":
                raise self.fail(close, "expected ')'")
            return node
        return self.comparison()

    def identifier(self) -> tuple[Identifier, Token]:
        tok = self.next("an identifier such as metrics.loss, params.lr, tags.team or status")
        if tok.kind != "word" or tok.text.upper() in _KEYWORDS:
            raise self.fail(tok, "expected an identifier such as metrics.loss, params.lr, tags.team or status")
        prefix, dot, key = tok.text.partition(".")
        if not dot:
            return self.attribute(tok, tok.text), tok
        kind = _PREFIXES.get(prefix.lower())
        if kind is None:
            raise self.fail(tok, f"unknown identifier type '{prefix}'; use metrics., params., tags. or attributes.")
        if kind not in self.schema.kinds:
            raise self.fail(tok, f"{self.schema.name} cannot be searched by {kind}s")
        if not key:
            quoted = self.next("a quoted key after '.'")
            if quoted.kind not in ("bquote", "dquote") or not _unquote(quoted):
                raise self.fail(quoted, "expected a `back-quoted` or \"double-quoted\" key after '.'")
            key = _unquote(quoted)
        if kind == "attribute":
            return self.attribute(tok, key), tok
        return Identifier(kind, key), tok

    def attribute(self, tok: Token, name: str) -> Identifier:
        known = self.schema.string_attributes | self.schema.numeric_attributes
        if name not in known:
            raise self.fail(tok, f"unknown attribute '{name}'; {self.schema.name} have {', '.join(sorted(known))}")
        return Identifier("attribute", name)

    def value(self) -> tuple[Any, Token]:
        tok = self.next("a value")
        if tok.kind in ("squote", "dquote"):
            return _unquote(tok), tok
        if tok.kind == "number":
            text = tok.text
            return (float(text) if any(c in text for c in ".eE") else int(text)), tok
        raise self.fail(tok, "expected a quoted string or a number")

    def comparison(self) -> Comparison:
        ident, id_tok = self.identifier()
        tok = self.next("an operator")
        if tok.kind == "op":
            op = tok.text
        elif tok.kind == "word" and tok.text.upper() in ("LIKE", "ILIKE", "IN", "IS", "NOT"):
            op = tok.text.upper()
        else:
            raise self.fail(tok, "expected an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS)")
        if op == "IS":
            negate = self.at_keyword("NOT")
            if negate:
                self.i += 1
            null = self.next("NULL")
            if not (null.kind == "word" and null.text.upper() == "NULL"):
                raise self.fail(null, "expected NULL after IS")
            op = "IS NOT NULL" if negate else "IS NULL"
            if ident.kind == "attribute":
                raise self.fail(id_tok, f"{op} is not supported on attributes")
            return Comparison(ident, op)
        if op == "NOT":
            in_tok = self.next("IN")
            if not (in_tok.kind == "word" and in_tok.text.upper() == "IN"):
                raise self.fail(in_tok, "expected IN after NOT")
            op = "NOT IN"
        if op in ("IN", "NOT IN"):
            return Comparison(ident, op, self.value_list(ident, id_tok, op))
        value, v_tok = self.value()
        self.check(ident, tok, op, value, v_tok)
        return Comparison(ident, op, (value,))

    def value_list(self, ident: Identifier, id_tok: Token, op: str) -> tuple[Any, ...]:
        is_metric = ident.kind == "metric"
        numeric_attr = ident.kind == "attribute" and ident.key in self.schema.numeric_attributes
        if is_metric or numeric_attr or (ident.kind == "attribute" and ident.key not in self.schema.in_attributes):
            raise self.fail(id_tok, f"{op} is supported on params, tags and string attributes only")
        open_tok = self.next("'('")
        if open_tok.text != "(":
            raise self.fail(open_tok, f"expected '(' after {op}")
        values = []
        while True:
            value, v_tok = self.value()
            if not isinstance(value, str):
                raise self.fail(v_tok, f"{op} lists of {ident.kind}s hold quoted strings")
            values.append(value)
            sep = self.next("',' or ')'")
            if sep.text == ")":
                return tuple(values)
            if sep.text != ",":
                raise self.fail(sep, "expected ',' or ')' in the value list")

    def check(self, ident: Identifier, op_tok: Token, op: str, value: Any, v_tok: Token) -> None:
        numeric = ident.kind == "metric" or (ident.kind == "attribute" and ident.key in self.schema.numeric_attributes)
        what = f"{ident.kind} '{ident.key}'"
        if numeric:
            if op not in _NUMERIC_OPS:
                raise self.fail(op_tok, f"{op} cannot compare the number {what}; use =, !=, <, <=, > or >=")
            if isinstance(value, str):
                raise self.fail(v_tok, f"expected a number to compare with {what}")
        else:
            if op not in _STRING_OPS:
                raise self.fail(op_tok, f"{op} cannot compare the string {what}; use =, !=, LIKE or ILIKE")
            if not isinstance(value, str):
                raise self.fail(v_tok, f"expected a quoted string to compare with {what}")


def parse_filter(text: str | None, schema: EntitySchema = RUNS) -> Node | None:
    """Parse a filter string into a tree (None for an empty filter).

    Raises:
        InvalidParameterValue: naming the offending token and its position.

    Examples:
        >>> parse_filter("metrics.loss < 0.5 AND params.lr = '0.1'")  # doctest: +ELLIPSIS
        BoolOp(op='AND', operands=(Comparison(ident=Identifier(kind='metric', key='loss'), op='<', ...
    """
    if text is None or not text.strip():
        return None
    if not isinstance(text, str):
        raise InvalidParameterValue(f"filter_string must be a string, got {type(text).__name__}")
    try:
        node = _Parser(text, schema).parse()
    except RecursionError:
        raise InvalidParameterValue(
            f"The filter is nested too deeply (more than {MAX_FILTER_DEPTH} levels of parentheses); simplify it."
        ) from None
    depth, comparisons = _size(node)
    if depth > MAX_FILTER_DEPTH or comparisons > MAX_FILTER_COMPARISONS:
        raise InvalidParameterValue(
            f"The filter has {comparisons} comparisons nested {depth} deep; at most {MAX_FILTER_COMPARISONS} "
            f"comparisons and {MAX_FILTER_DEPTH} levels are allowed. Split the search, or use IN ('a', 'b', ...)."
        )
    return node


#: Bounds on a filter, well beyond any written by hand: the SQL it compiles to must stay
#: within DuckDB's expression depth (1,000), and a parse within Python's recursion limit.
MAX_FILTER_DEPTH = 50
MAX_FILTER_COMPARISONS = 500


def _size(node: Node | None) -> tuple[int, int]:
    """(depth, comparisons) of a filter tree."""
    if node is None:
        return 0, 0
    if isinstance(node, BoolOp):
        sizes = [_size(n) for n in node.operands]
        return 1 + max(d for d, _ in sizes), sum(c for _, c in sizes)
    return 1, 1


def parse_order_by(clauses: Sequence[str] | None, schema: EntitySchema = RUNS) -> list[tuple[Identifier, bool]]:
    """Parse order_by clauses into ``(identifier, ascending)`` pairs.

    Raises:
        InvalidParameterValue: for a malformed clause.
    """
    parsed = []
    if isinstance(clauses, str):  # a single clause given without a list
        clauses = [clauses]
    for clause in clauses or []:
        if not isinstance(clause, str):
            raise InvalidParameterValue(f"order_by clauses must be strings, got {clause!r}")
        parser = _Parser(clause, schema)
        if not parser.tokens:
            raise InvalidParameterValue(f"Invalid order_by clause '{clause}': it is empty.")
        ident, _ = parser.identifier()
        ascending = True
        tok = parser.peek()
        if tok is not None:
            if tok.kind == "word" and tok.text.upper() in ("ASC", "DESC"):
                ascending = tok.text.upper() == "ASC"
                parser.i += 1
            tok = parser.peek()
            if tok is not None:
                raise InvalidParameterValue(
                    f"Invalid order_by clause '{clause}': expected ASC, DESC or the end, found {tok.text!r} "
                    f"at position {tok.pos}."
                )
        parsed.append((ident, ascending))
    return parsed


# -- compiling to SQL -------------------------------------------------------------------------

_RUN_ATTRIBUTE_SQL = {
    "run_id": "r.run_id",
    "run_name": "r.run_name",
    "status": "r.status",
    "user_id": "r.user_id",
    "artifact_uri": "r.artifact_uri",
    "start_time": "r.start_time",
    "end_time": "r.end_time",
}
_EXPERIMENT_ATTRIBUTE_SQL = {
    "name": "e.name",
    "experiment_id": "e.experiment_id",
    "creation_time": "e.creation_time",
    "last_update_time": "e.last_update_time",
}


def _value_test(column: str, op: str, values: tuple[Any, ...], args: list[Any], *, numeric: bool) -> str:
    """``column op ?`` with the value appended to ``args``; NaN matches only ``!=``."""
    if op in ("IN", "NOT IN"):
        args.extend(values)
        marks = ", ".join("?" for _ in values)
        return f"{column} {op} ({marks})"
    args.append(values[0])
    if op == "ILIKE":
        return f"lower({column}) LIKE lower(?)"
    if numeric and op == "!=":
        return f"(isnan({column}) OR {column} != ?)"
    if numeric:
        return f"(NOT isnan({column}) AND {column} {op} ?)"
    return f"{column} {op} ?"


@dataclass(frozen=True, slots=True)
class _Target:
    """How one searchable entity's identifiers become SQL: columns, and EXISTS sources per kind."""

    schema: EntitySchema
    attributes: dict[str, str]
    sources: dict[str, tuple[str, str]]  # kind -> (SELECT 1 ... WHERE ... AND <key> = ?, value column)


_RUN_TARGET = _Target(
    RUNS,
    _RUN_ATTRIBUTE_SQL,
    {
        "metric": (
            "SELECT 1 FROM latest_metrics l JOIN metric_keys k ON k.key_id = l.key_id "
            "WHERE l.run_key = r.run_key AND k.key = ?",
            "l.value",
        ),
        "param": ("SELECT 1 FROM params x WHERE x.run_key = r.run_key AND x.key = ?", "x.value"),
        "tag": ("SELECT 1 FROM tags x WHERE x.run_key = r.run_key AND x.key = ?", "x.value"),
    },
)
_EXPERIMENT_TARGET = _Target(
    EXPERIMENTS,
    _EXPERIMENT_ATTRIBUTE_SQL,
    {"tag": ("SELECT 1 FROM experiment_tags t WHERE t.experiment_id = e.experiment_id AND t.key = ?", "t.value")},
)
_LOGGED_MODEL_TARGET = _Target(
    LOGGED_MODELS,
    {name: f"e.{name}" for name in LOGGED_MODELS.string_attributes | LOGGED_MODELS.numeric_attributes},
    {
        "tag": ("SELECT 1 FROM logged_model_tags t WHERE t.model_id = e.model_id AND t.key = ?", "t.value"),
        "param": ("SELECT 1 FROM logged_model_params t WHERE t.model_id = e.model_id AND t.key = ?", "t.value"),
    },
)

_REGISTERED_MODEL_TARGET = _Target(
    REGISTERED_MODELS,
    {
        "name": "e.name",
        "creation_timestamp": "e.creation_timestamp",
        "last_updated_timestamp": "e.last_updated_timestamp",
    },
    {"tag": ("SELECT 1 FROM registered_model_tags t WHERE t.model_key = e.model_key AND t.key = ?", "t.value")},
)
_MODEL_VERSION_TARGET = _Target(
    MODEL_VERSIONS,
    {
        "name": "e.name",
        "run_id": "e.run_id",
        "source_path": "e.source",
        "user_id": "e.user_id",
        "current_stage": "e.current_stage",
        "version_number": "e.version",
        "creation_timestamp": "e.creation_timestamp",
        "last_updated_timestamp": "e.last_updated_timestamp",
    },
    {
        "tag": (
            "SELECT 1 FROM model_version_tags t "
            "WHERE t.model_key = e.model_key AND t.version = e.version AND t.key = ?",
            "t.value",
        )
    },
)


def _compile_node(node: Node, args: list[Any], target: _Target) -> str:
    """SQL for a filter tree; values and keys are appended to ``args`` in placeholder order."""
    if isinstance(node, BoolOp):
        return "(" + f" {node.op} ".join(_compile_node(n, args, target) for n in node.operands) + ")"
    ident, op = node.ident, node.op
    if ident.kind == "attribute":
        column = target.attributes[ident.key]
        if ident.key in target.schema.numeric_attributes:
            args.append(node.values[0])
            return f"{column} {op} ?"
        return _value_test(column, op, node.values, args, numeric=False)
    source, column = target.sources[ident.kind]
    args.append(ident.key)
    if op == "IS NULL":
        return f"NOT EXISTS ({source})"
    if op == "IS NOT NULL":
        return f"EXISTS ({source})"
    test = _value_test(column, op, node.values, args, numeric=ident.kind == "metric")
    return f"EXISTS ({source} AND {test})"


def _sort_source(ident: Identifier, n: int, args: list[Any]) -> tuple[str, str, bool]:
    """A LEFT JOIN bringing the sort value in as ``o<n>.v``; returns (join, value column, numeric)."""
    alias = f"o{n}"
    if ident.kind == "attribute":
        return "", _RUN_ATTRIBUTE_SQL[ident.key], ident.key in RUNS.numeric_attributes
    args.append(ident.key)
    if ident.kind == "metric":
        join = (
            f"LEFT JOIN (SELECT l.run_key, l.value AS v FROM latest_metrics l JOIN metric_keys k "
            f"ON k.key_id = l.key_id WHERE k.key = ?) {alias} ON {alias}.run_key = r.run_key"
        )
        return join, f"{alias}.v", True
    table = "params" if ident.kind == "param" else "tags"
    join = f"LEFT JOIN (SELECT run_key, value AS v FROM {table} WHERE key = ?) {alias} ON {alias}.run_key = r.run_key"
    return join, f"{alias}.v", False


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """SQL text built only from fixed fragments, and its bind parameters in order."""

    sql: str
    params: list[Any]


def _paged(sql: str, args: list[Any], limit: int | None, offset: int) -> CompiledQuery:
    """``sql`` with ``LIMIT ? OFFSET ?`` when there is a limit."""
    if limit is None:
        return CompiledQuery(sql, args)
    return CompiledQuery(f"{sql} LIMIT ? OFFSET ?", [*args, int(limit), int(offset)])


def compile_run_search(
    experiment_ids: Sequence[str],
    stages: Sequence[str],
    filter_string: str | None,
    order_by: Sequence[str] | None,
    limit: int | None,
    offset: int = 0,
) -> CompiledQuery:
    """The query returning the attribute rows (``RUN_COLUMNS``, then ``ord``: the position in
    search order) of matching runs, in search order.

    Raises:
        InvalidParameterValue: for a malformed filter or order_by clause.
    """
    tree = parse_filter(filter_string, RUNS)
    sorts = parse_order_by(order_by, RUNS)
    join_args: list[Any] = []
    joins: list[str] = []
    order_terms: list[str] = []
    for n, (ident, ascending) in enumerate(sorts):
        join, column, numeric = _sort_source(ident, n, join_args)
        if join:
            joins.append(join)
        missing = (
            f"({column} IS NULL OR isnan({column}))" if numeric and ident.kind == "metric" else f"({column} IS NULL)"
        )
        order_terms += [f"{missing} ASC", f"{column} {'ASC' if ascending else 'DESC'}"]
    order_terms += ["r.start_time DESC", "r.run_id ASC"]
    where_args: list[Any] = [list(experiment_ids), list(stages)]
    where = "list_contains(?, r.experiment_id) AND list_contains(?, r.lifecycle_stage)"
    if tree is not None:
        where += " AND " + _compile_node(tree, where_args, _RUN_TARGET)
    columns = ", ".join(f"r.{c}" for c in RUN_COLUMNS)
    # ``ord`` carries the order through the page query's joins (see store.run_tables).
    order = ", ".join(order_terms)
    sql = (
        f"SELECT {columns}, row_number() OVER (ORDER BY {order}) AS ord "
        f"FROM runs r {' '.join(joins)} WHERE {where} ORDER BY ord"
    )
    return _paged(sql, join_args + where_args, limit, offset)


@dataclass(frozen=True, slots=True)
class _Listing:
    """A searchable entity other than runs: its table (aliased ``e``), id, key/value tables, order."""

    target: _Target
    table: str
    id_column: str
    sort_tables: dict[str, str]  # kind -> key/value table with an ``id_column`` column
    tiebreak: tuple[str, ...]
    numeric_id: bool = False


_EXPERIMENT_LISTING = _Listing(
    _EXPERIMENT_TARGET,
    "experiments",
    "experiment_id",
    {"tag": "experiment_tags"},
    ("e.creation_time DESC", "TRY_CAST(e.experiment_id AS BIGINT) ASC", "e.experiment_id ASC"),
    numeric_id=True,
)
_LOGGED_MODEL_LISTING = _Listing(
    _LOGGED_MODEL_TARGET,
    "logged_models",
    "model_id",
    {"tag": "logged_model_tags", "param": "logged_model_params"},
    ("e.creation_timestamp DESC", "e.model_id ASC"),
)

_REGISTERED_MODEL_LISTING = _Listing(
    _REGISTERED_MODEL_TARGET,
    "registered_models",
    "model_key",
    {"tag": "registered_model_tags"},
    ("e.name ASC",),
)
# One row per live version; ``vid`` packs (model_key, version) into one sortable id.
_VERSION_ID = "(model_key::BIGINT << 32) + version"
_MODEL_VERSION_LISTING = _Listing(
    _MODEL_VERSION_TARGET,
    f"(SELECT v.*, m.name, {_VERSION_ID} AS vid FROM model_versions v JOIN registered_models m USING (model_key) "
    "WHERE v.current_stage <> 'Deleted_Internal')",
    "vid",
    {"tag": f"(SELECT {_VERSION_ID} AS vid, key, value FROM model_version_tags)"},
    ("e.last_updated_timestamp DESC", "e.name ASC", "e.version DESC"),  # MLflow's default order
)


def _compile_listing(
    listing: _Listing,
    where_sql: str,
    where_args: list[Any],
    filter_string: str | None,
    order_by: Sequence[str] | None,
    limit: int | None,
    offset: int,
) -> CompiledQuery:
    schema = listing.target.schema
    tree = parse_filter(filter_string, schema)
    join_args: list[Any] = []
    joins: list[str] = []
    order_terms: list[str] = []
    for n, (ident, ascending) in enumerate(parse_order_by(order_by, schema)):
        if ident.kind == "attribute":
            column = listing.target.attributes[ident.key]
            if listing.numeric_id and ident.key == listing.id_column:
                column = f"TRY_CAST({column} AS BIGINT)"
        else:
            join_args.append(ident.key)
            joins.append(
                f"LEFT JOIN (SELECT {listing.id_column}, value AS v FROM {listing.sort_tables[ident.kind]} "
                f"WHERE key = ?) o{n} ON o{n}.{listing.id_column} = e.{listing.id_column}"
            )
            column = f"o{n}.v"
        order_terms += [f"({column} IS NULL) ASC", f"{column} {'ASC' if ascending else 'DESC'}"]
    order_terms += list(listing.tiebreak)
    where = where_sql
    if tree is not None:
        where += " AND " + _compile_node(tree, where_args, listing.target)
    sql = (
        f"SELECT e.{listing.id_column} FROM {listing.table} e {' '.join(joins)} WHERE {where} "
        f"ORDER BY {', '.join(order_terms)}"
    )
    return _paged(sql, join_args + where_args, limit, offset)


def compile_experiment_search(
    stages: Sequence[str], filter_string: str | None, order_by: Sequence[str] | None, limit: int | None, offset: int = 0
) -> CompiledQuery:
    """The query returning matching experiment ids in search order (newest first by default).

    Raises:
        InvalidParameterValue: for a malformed filter or order_by clause.
    """
    return _compile_listing(
        _EXPERIMENT_LISTING,
        "list_contains(?, e.lifecycle_stage)",
        [list(stages)],
        filter_string,
        order_by,
        limit,
        offset,
    )


def compile_logged_model_search(
    experiment_ids: Sequence[str],
    filter_string: str | None,
    order_by: Sequence[str] | None,
    limit: int | None,
    offset: int = 0,
) -> CompiledQuery:
    """The query returning matching logged-model ids in search order (newest first by default).

    Identifiers: ``name``, ``model_id``, ``model_type``, ``status``, ``source_run_id``,
    ``creation_timestamp``, ``last_updated_timestamp``, ``tags.<key>``, ``params.<key>``.

    Raises:
        InvalidParameterValue: for a malformed filter or order_by clause.
    """
    return _compile_listing(
        _LOGGED_MODEL_LISTING,
        "list_contains(?, e.experiment_id)",
        [list(experiment_ids)],
        filter_string,
        order_by,
        limit,
        offset,
    )


def compile_registered_model_search(
    filter_string: str | None, order_by: Sequence[str] | None, limit: int | None, offset: int = 0
) -> CompiledQuery:
    """The query returning matching registered models' keys in search order (by name by default).

    Identifiers: ``name`` (``=``, ``!=``, ``LIKE``, ``ILIKE``, ``IN``), ``creation_timestamp``,
    ``last_updated_timestamp``, ``tags.<key>``.

    Raises:
        InvalidParameterValue: for a malformed filter or order_by clause.
    """
    return _compile_listing(_REGISTERED_MODEL_LISTING, "TRUE", [], filter_string, order_by, limit, offset)


def compile_model_version_search(
    filter_string: str | None, order_by: Sequence[str] | None, limit: int | None, offset: int = 0
) -> CompiledQuery:
    """The query returning matching versions as packed ``(model_key << 32) + version`` ids, in
    search order (by default MLflow's: most recently updated first, then name, newest version).

    Identifiers: ``name``, ``run_id``, ``source_path``, ``user_id``, ``current_stage``,
    ``version_number``, ``creation_timestamp``, ``last_updated_timestamp``, ``tags.<key>``.

    Raises:
        InvalidParameterValue: for a malformed filter or order_by clause.
    """
    return _compile_listing(_MODEL_VERSION_LISTING, "TRUE", [], filter_string, order_by, limit, offset)


# -- paging ----------------------------------------------------------------------------------


def encode_page_token(offset: int) -> str:
    """An opaque page token for the given offset."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_page_token(token: str | None) -> int:
    """The offset in a page token (0 for None).

    Raises:
        InvalidParameterValue: for a token this store did not hand out.
    """
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except Exception as exc:
        raise InvalidParameterValue(f"Invalid page token '{token}': pass back a token from a previous search.") from exc
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset < 2**62:
        raise InvalidParameterValue(f"Invalid page token '{token}': pass back a token from a previous search.")
    return offset
