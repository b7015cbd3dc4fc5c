"""An independent, plain-Python reference for the run search grammar of docs/search.md.

Written from the document alone (not from ``tracklite.search``) so the tests can compare
the real SQL-backed search with it. It has its own tokenizer and recursive-descent
parser, evaluates the tree over plain run records, and orders the matches as the
document says (order_by clauses, missing values last in either direction, then
``start_time DESC``, then ``run_id ASC``).

It also provides hypothesis strategies that generate *valid* filter strings and
order_by lists from the grammar, drawing keys and values from small pools that the
property test also uses to create runs, so filters both hit and miss.

Where docs/search.md leaves something open this module picks one reading, marked
``# spec-ambiguity:``; the generators avoid those corners.
"""

from __future__ import annotations

import getpass
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Any

from hypothesis import strategies as st

# ---------------------------------------------------------------------------------------
# Records and errors


@dataclass
class RunRecord:
    """One run as plain data: what the reference evaluates filters over."""

    run_id: str
    run_name: str
    status: str
    user_id: str
    artifact_uri: str
    start_time: int
    end_time: int | None
    metrics: dict[str, float] = field(default_factory=dict)  # latest values
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


class FilterError(ValueError):
    """A malformed or ill-typed filter / order_by clause (the reference's InvalidParameterValue)."""

    def __init__(self, message: str, token: str, pos: int) -> None:
        super().__init__(f"{message} (token {token!r} at position {pos})")
        self.token = token
        self.pos = pos


# ---------------------------------------------------------------------------------------
# Tokenizer

# spec-ambiguity: `[A-Za-z0-9_.-:/]` read literally is a range '.'..':' (which would also
# admit '/', digits and nothing else new); read here as the five characters _ . - : /.
NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-:/")
_NAME_RE = re.compile(r"[A-Za-z0-9_.\-:/]+")
# spec-ambiguity: "number" is not defined; optional sign, digits, optional fraction and
# exponent are accepted here. Generated filters only use -?digits(.digits)?.
_NUMBER_RE = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_OPS = ("!=", "<=", ">=", "=", "<", ">")
KEYWORDS = frozenset({"AND", "OR", "LIKE", "ILIKE", "IN", "NOT", "IS", "NULL", "ASC", "DESC"})


@dataclass(frozen=True)
class Tok:
    kind: str  # WORD NUM STR DQ BQ OP LP RP COMMA END
    text: str  # the source text
    value: Any  # decoded: str for quoted, float for NUM, the operator for OP
    pos: int
    end: int

    def kw(self) -> str | None:
        """The keyword this token spells (upper case), if it is a bare keyword."""
        if self.kind == "WORD" and self.text.upper() in KEYWORDS:
            return self.text.upper()
        return None


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "'\"`":
            # A quoted string/key; the quote character doubled stands for itself.
            # spec-ambiguity: the doc says "'' inside quotes is one quote"; read here as
            # "the enclosing quote character doubled", for all three quote styles.
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise FilterError("unclosed quote", text[i:], i)
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:
                        buf.append(c)
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            kind = {"'": "STR", '"': "DQ", "`": "BQ"}[c]
            toks.append(Tok(kind, text[i : j + 1], "".join(buf), i, j + 1))
            i = j + 1
            continue
        if c == "(":
            toks.append(Tok("LP", c, c, i, i + 1))
            i += 1
            continue
        if c == ")":
            toks.append(Tok("RP", c, c, i, i + 1))
            i += 1
            continue
        if c == ",":
            toks.append(Tok("COMMA", c, c, i, i + 1))
            i += 1
            continue
        op = next((o for o in _OPS if text.startswith(o, i)), None)
        if op is not None:
            toks.append(Tok("OP", op, op, i, i + len(op)))
            i += len(op)
            continue
        m = _NUMBER_RE.match(text, i)
        if m and (m.end() == n or text[m.end()] not in NAME_CHARS):
            toks.append(Tok("NUM", m.group(), float(m.group()), i, m.end()))
            i = m.end()
            continue
        if c in NAME_CHARS:
            m = _NAME_RE.match(text, i)
            assert m
            toks.append(Tok("WORD", m.group(), m.group(), i, m.end()))
            i = m.end()
            continue
        raise FilterError("unexpected character", c, i)
    toks.append(Tok("END", "", None, n, n))
    return toks


# ---------------------------------------------------------------------------------------
# Parser

PREFIXES = {
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
STRING_ATTRIBUTES = ("run_id", "run_name", "status", "user_id", "artifact_uri")
NUMERIC_ATTRIBUTES = ("start_time", "end_time")
ATTRIBUTES = STRING_ATTRIBUTES + NUMERIC_ATTRIBUTES

# A comparison node: ("cmp", kind, key, op, value); op is one of = != < <= > >= LIKE ILIKE
# IN "NOT IN" "IS NULL" "IS NOT NULL"; value a float, a str, a tuple of str, or None.
Node = tuple


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def take(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, message: str, tok: Tok | None = None) -> FilterError:
        tok = tok or self.peek()
        return FilterError(message, tok.text or "<end of input>", tok.pos)

    # identifier := prefix "." key | attribute
    def identifier(self) -> tuple[str, str]:
        tok = self.take()
        if tok.kind != "WORD" or tok.kw() is not None:
            raise self.fail("expected an identifier", tok)
        if "." not in tok.text:
            if tok.text not in ATTRIBUTES:
                raise self.fail("unknown attribute", tok)
            return "attribute", tok.text
        prefix, key = tok.text.split(".", 1)
        kind = PREFIXES.get(prefix.lower())
        if kind is None:
            raise self.fail("unknown identifier prefix", tok)
        if key == "":
            nxt = self.peek()
            if nxt.kind in ("DQ", "BQ") and nxt.pos == tok.end:
                self.take()
                key = nxt.value
            else:
                raise self.fail("missing key after prefix", tok)
        if kind == "attribute" and key not in ATTRIBUTES:
            raise self.fail("unknown attribute", tok)
        return kind, key

    def parse_filter(self) -> Node | None:
        if self.peek().kind == "END":
            return None
        node = self.or_expr()
        if self.peek().kind != "END":
            raise self.fail("unexpected token")
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.peek().kw() == "OR":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def and_expr(self) -> Node:
        parts = [self.operand()]
        while self.peek().kw() == "AND":
            self.take()
            parts.append(self.operand())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def operand(self) -> Node:
        if self.peek().kind == "LP":
            self.take()
            node = self.or_expr()
            if self.peek().kind != "RP":
                raise self.fail("expected ')'")
            self.take()
            return node
        return self.comparison()

    def value(self) -> Tok:
        tok = self.take()
        if tok.kind not in ("STR", "DQ", "NUM"):
            raise self.fail("expected a value", tok)
        return tok

    def comparison(self) -> Node:
        id_tok = self.peek()
        kind, key = self.identifier()
        numeric = kind == "metric" or (kind == "attribute" and key in NUMERIC_ATTRIBUTES)
        tok = self.take()
        kw = tok.kw()
        if kw == "IS":
            negate = False
            if self.peek().kw() == "NOT":
                self.take()
                negate = True
            null = self.take()
            if null.kw() != "NULL":
                raise self.fail("expected NULL", null)
            if kind == "attribute":
                raise self.fail("IS NULL is not allowed on an attribute", tok)
            return ("cmp", kind, key, "IS NOT NULL" if negate else "IS NULL", None)
        if kw in ("NOT", "IN"):
            op = "IN"
            if kw == "NOT":
                nxt = self.take()
                if nxt.kw() != "IN":
                    raise self.fail("expected IN after NOT", nxt)
                op = "NOT IN"
            if numeric:
                raise self.fail(f"{op} is not allowed on {kind} {key!r}", tok)
            if self.peek().kind != "LP":
                raise self.fail("expected '(' after IN")
            self.take()
            values = []
            while True:
                v = self.value()
                if v.kind == "NUM":
                    raise self.fail("IN lists take quoted strings", v)
                values.append(v.value)
                sep = self.take()
                if sep.kind == "RP":
                    break
                if sep.kind != "COMMA":
                    raise self.fail("expected ',' or ')'", sep)
            return ("cmp", kind, key, op, tuple(values))
        if tok.kind == "OP" or kw in ("LIKE", "ILIKE"):
            op = tok.value if tok.kind == "OP" else kw
            v = self.value()
            if numeric:
                if op not in ("=", "!=", "<", "<=", ">", ">="):
                    raise self.fail(f"{op} is not allowed on {kind} {key!r}", tok)
                if v.kind != "NUM":
                    raise self.fail(f"{kind} {key!r} compares with a number", v)
            else:
                if op not in ("=", "!=", "LIKE", "ILIKE"):
                    raise self.fail(f"{op} is not allowed on {kind} {key!r}", tok)
                if v.kind == "NUM":
                    raise self.fail(f"{kind} {key!r} compares with a quoted string", v)
            return ("cmp", kind, key, op, v.value)
        raise self.fail(f"expected an operator after {id_tok.text!r}", tok)

    def order_clause(self) -> tuple[str, str, bool]:
        kind, key = self.identifier()
        desc = False
        tok = self.peek()
        if tok.kw() in ("ASC", "DESC"):
            self.take()
            desc = tok.kw() == "DESC"
        if self.peek().kind != "END":
            raise self.fail("unexpected token in order_by clause")
        return kind, key, desc


def parse_filter(text: str | None) -> Node | None:
    """The filter's tree (None for an empty filter); raises FilterError."""
    return _Parser(text or "").parse_filter()


def parse_order_by(clauses: Sequence[str] | None) -> list[tuple[str, str, bool]]:
    """(kind, key, descending) per clause; raises FilterError."""
    return [_Parser(c).order_clause() for c in (clauses or [])]


# ---------------------------------------------------------------------------------------
# Evaluation


def like(value: str, pattern: str, *, ignore_case: bool = False) -> bool:
    """SQL LIKE with % and _, no escape character, whole value."""
    if ignore_case:
        value, pattern = value.lower(), pattern.lower()
    rx = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(rx, value, flags=re.DOTALL) is not None


def _lookup(run: RunRecord, kind: str, key: str) -> Any:
    if kind == "metric":
        return run.metrics.get(key)
    if kind == "param":
        return run.params.get(key)
    if kind == "tag":
        return run.tags.get(key)
    return getattr(run, key)


def evaluate(node: Node | None, run: RunRecord) -> bool:
    if node is None:
        return True
    if node[0] == "or":
        return any(evaluate(n, run) for n in node[1])
    if node[0] == "and":
        return all(evaluate(n, run) for n in node[1])
    _, kind, key, op, value = node
    actual = _lookup(run, kind, key)
    if op == "IS NULL":
        return actual is None
    if op == "IS NOT NULL":
        return actual is not None
    if actual is None:  # missing keys (and a running run's end_time) never match
        return False
    if op == "LIKE":
        return like(actual, value)
    if op == "ILIKE":
        return like(actual, value, ignore_case=True)
    if op == "IN":
        return actual in value
    if op == "NOT IN":
        return actual not in value
    if isinstance(value, float):
        actual = float(actual)
    return {
        "=": actual == value,
        "!=": actual != value,
        "<": actual < value,
        "<=": actual <= value,
        ">": actual > value,
        ">=": actual >= value,
    }[op]


# spec-ambiguity: "runs that lack the key (and, for metrics, runs whose latest value is NaN)
# come after all others" does not say how NaN runs and runs without the metric order among
# themselves. False: they are one group, ordered by the tie-breakers (the literal reading).
# True: NaN runs first, then runs without the metric (MLflow's SQL store does this).
NAN_BEFORE_MISSING = True


def _sort_value(run: RunRecord, kind: str, key: str) -> tuple[int, Any]:
    """(bucket, value): bucket 0 has a value, 1 NaN metric, 2 missing; buckets order last in both directions."""
    v = _lookup(run, kind, key)
    if v is None:
        return 2, None
    if kind == "metric" and math.isnan(v):
        return (1 if NAN_BEFORE_MISSING else 2), None
    return 0, v


def order(runs: Iterable[RunRecord], order_by: Sequence[str] | None = None) -> list[RunRecord]:
    """The runs in the documented order."""
    clauses = parse_order_by(order_by)

    def cmp(a: RunRecord, b: RunRecord) -> int:
        for kind, key, desc in clauses:
            (ba, va), (bb, vb) = _sort_value(a, kind, key), _sort_value(b, kind, key)
            if ba != bb:
                return -1 if ba < bb else 1  # NaN / missing after, whatever the direction
            if ba == 0 and va != vb:
                c = -1 if va < vb else 1
                return -c if desc else c
        if a.start_time != b.start_time:
            return -1 if a.start_time > b.start_time else 1
        return (a.run_id > b.run_id) - (a.run_id < b.run_id)

    return sorted(runs, key=cmp_to_key(cmp))


def search(
    runs: Iterable[RunRecord], filter_string: str | None = "", order_by: Sequence[str] | None = None
) -> list[str]:
    """Run ids matching ``filter_string``, ordered by ``order_by`` and the tie-breakers."""
    tree = parse_filter(filter_string)
    parse_order_by(order_by)  # validate even when nothing matches
    return [r.run_id for r in order((r for r in runs if evaluate(tree, r)), order_by)]


# ---------------------------------------------------------------------------------------
# Pools shared with the property test: runs are built from these, filters drawn from them

METRIC_KEYS = ("loss", "acc", "my metric", "m.x-1", "a/b:c")
PARAM_KEYS = ("lr", "opt", "my key", "p.q-r")
TAG_KEYS = ("team", "x y", "stage.v-2")
ABSENT_KEY = "absent"
STRING_VALUES = ("0.1", "0.10", "adam", "Adam", "it's", "a%b", "a_b", "", "Éa", 'say "hi"', "x y")
RUN_NAMES = ("alpha", "beta", "Alpha", "al_pha", "it's", "b%")
STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")
METRIC_VALUES = (0.0, 0.5, 1.0, -1.0, 2.5, 1000.0, math.nan, math.inf, -math.inf)
START_TIMES = (1000, 2000, 2000, 3000, 4000)
FILTER_NUMBERS = ("0", "0.5", "1", "1.0", "-1", "2.5", "1000", "-0.5", "3")
TIME_NUMBERS = ("999", "1000", "2000", "2500", "3000", "4000.0", "5000")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001
        return "unknown"


def _case(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word.upper(), word.lower(), word.capitalize()])


def render_key(key: str, style: str) -> str:
    """A key as it appears after ``prefix.``: bare, back-quoted or double-quoted."""
    if style == "bare" and _NAME_RE.fullmatch(key):
        return key
    if style == "dq":
        return '"' + key.replace('"', '""') + '"'
    return "`" + key.replace("`", "``") + "`"


def render_string(value: str, style: str) -> str:
    if style == "dq":
        return '"' + value.replace('"', '""') + '"'
    return "'" + value.replace("'", "''") + "'"


@st.composite
def identifiers(draw: st.DrawFn, kind: str, key: str) -> str:
    """``kind``/``key`` spelled with a random prefix variant and quoting style."""
    if kind == "attribute":
        prefix = draw(st.sampled_from([None, "attributes", "attribute", "attr", "run", "ATTRIBUTES", "Attr"]))
        return key if prefix is None else f"{prefix}.{key}"
    prefix = draw(
        st.sampled_from(
            {
                "metric": ["metrics", "metric", "METRICS", "Metric"],
                "param": ["params", "param", "parameter", "parameters", "PARAMS"],
                "tag": ["tags", "tag", "TAGS"],
            }[kind]
        )
    )
    style = draw(st.sampled_from(["bare", "bq", "dq"]))
    return f"{prefix}.{render_key(key, style)}"


@st.composite
def like_patterns(draw: st.DrawFn, base: str) -> str:
    """A LIKE pattern derived from ``base`` so it often matches: '_' for a char, '%' for a run."""
    chars = list(base)
    for _ in range(draw(st.integers(0, 2))):
        if not chars:
            break
        i = draw(st.integers(0, len(chars) - 1))
        if draw(st.booleans()):
            chars[i] = "_"
        else:
            j = draw(st.integers(i, len(chars)))
            chars[i:j] = ["%"]
    pattern = "".join(chars)
    if draw(st.booleans()):
        pattern = "%" + pattern
    if draw(st.booleans()):
        pattern += "%"
    if draw(st.booleans()):
        pattern = pattern.swapcase()
    return pattern


def _ws(draw: st.DrawFn) -> str:
    return draw(st.sampled_from([" ", "", "  "]))


@st.composite
def comparisons(draw: st.DrawFn, run_ids: Sequence[str] = (), artifact_uris: Sequence[str] = ()) -> str:
    """One valid comparison, as text."""
    kind = draw(st.sampled_from(["metric", "param", "tag", "attribute"]))
    if kind == "metric":
        key = draw(st.sampled_from((*METRIC_KEYS, ABSENT_KEY)))
        ident = draw(identifiers(kind, key))
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "IS NULL", "IS NOT NULL"]))
        if op.startswith("IS"):
            return f"{ident} {' '.join(draw(_case(w)) for w in op.split())}"
        return f"{ident}{_ws(draw)}{op}{_ws(draw)}{draw(st.sampled_from(FILTER_NUMBERS))}"

    if kind == "attribute":
        key = draw(st.sampled_from(ATTRIBUTES))
    elif kind == "param":
        key = draw(st.sampled_from((*PARAM_KEYS, ABSENT_KEY)))
    else:
        key = draw(st.sampled_from((*TAG_KEYS, "mlflow.runName", ABSENT_KEY)))
    ident = draw(identifiers(kind, key))

    if key in NUMERIC_ATTRIBUTES:
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
        return f"{ident}{_ws(draw)}{op}{_ws(draw)}{draw(st.sampled_from(TIME_NUMBERS))}"

    pool: Sequence[str] = {
        "run_id": tuple(run_ids) or ("nope",),
        "run_name": RUN_NAMES,
        "status": (*STATUSES, "finished"),
        "user_id": (_user(), "nobody"),
        "artifact_uri": tuple(artifact_uris) or ("nope",),
    }.get(key, STRING_VALUES + RUN_NAMES)
    ops = ["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"]
    if kind != "attribute":
        ops += ["IS NULL", "IS NOT NULL"]
    op = draw(st.sampled_from(ops))
    if op.startswith("IS"):
        return f"{ident} {' '.join(draw(_case(w)) for w in op.split())}"
    quote = draw(st.sampled_from(["sq", "dq"]))
    if op in ("IN", "NOT IN"):
        values = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
        sep = draw(st.sampled_from([", ", ",", " , "]))
        items = sep.join(render_string(v, quote) for v in values)
        return f"{ident} {' '.join(draw(_case(w)) for w in op.split())} ({items})"
    base = draw(st.sampled_from(pool))
    if op in ("LIKE", "ILIKE"):
        return f"{ident} {draw(_case(op))} {render_string(draw(like_patterns(base)), quote)}"
    return f"{ident}{_ws(draw)}{op}{_ws(draw)}{render_string(base, quote)}"


@st.composite
def _combine(draw: st.DrawFn, children: st.SearchStrategy[tuple[str, int]]) -> tuple[str, int]:
    """Join 2-3 pieces with AND or OR; a piece is (text, level): 0 atom, 1 AND chain, 2 OR chain."""
    parts = draw(st.lists(children, min_size=2, max_size=3))
    word = draw(st.sampled_from(["AND", "OR"]))
    level = 1 if word == "AND" else 2
    texts = []
    for text, lvl in parts:
        wrap = lvl > level or (lvl > 0 and draw(st.booleans()))
        texts.append("(" + text + ")" if wrap else text)
    joined = f" {draw(_case(word))} ".join(texts)
    if draw(st.integers(0, 4)) == 0:
        return "(" + joined + ")", 0
    return joined, level


def filter_strings(run_ids: Sequence[str] = (), artifact_uris: Sequence[str] = ()) -> st.SearchStrategy[str]:
    """Valid filters: comparisons joined by AND/OR, with parentheses where needed and at random."""
    leaves = comparisons(run_ids, artifact_uris).map(lambda s: (s, 0))
    tree = st.recursive(leaves, _combine, max_leaves=6)
    return st.one_of(st.just(("", 0)), tree).map(lambda p: p[0])


@st.composite
def order_bys(draw: st.DrawFn) -> list[str] | None:
    """None or a list of 0-3 valid order_by clauses."""
    if draw(st.integers(0, 5)) == 0:
        return None
    clauses = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["metric", "param", "tag", "attribute"]))
        key = draw(
            st.sampled_from(
                {
                    "metric": (*METRIC_KEYS, ABSENT_KEY),
                    "param": (*PARAM_KEYS, ABSENT_KEY),
                    "tag": (*TAG_KEYS, "mlflow.runName", ABSENT_KEY),
                    "attribute": ATTRIBUTES,
                }[kind]
            )
        )
        ident = draw(identifiers(kind, key))
        direction = draw(st.sampled_from(["", " ASC", " DESC", " asc", " desc"]))
        clauses.append(ident + direction)
    return clauses
