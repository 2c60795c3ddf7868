"""Analysts' queries, read-only by the engine's own rules.

Three layers, each from ClickHouse itself, never from matching text:
1. The statement is parsed by ClickHouse (`formatQuerySingleLine`, `EXPLAIN AST`): one statement, of a
   kind that reads (SELECT, SHOW, DESCRIBE, EXISTS, EXPLAIN), with no INTO OUTFILE, no table function
   but the ones that generate data, and no function that reaches outside the store (`file()` reads
   any path in the embedded engine; the AI functions call out; introspection reads the binary).
2. The handle that runs it is `readonly=1` (no writes, DDL, SYSTEM, settings changes, file/url/remote
   table functions) with limits on time, memory and result size: the engine stops a runaway query.
3. On the embedded engine the analysts' handle is not the sink's handle, so a slow query does not
   hold up ingestion (chdb serves any number of handles of one engine concurrently).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

# Statements that only read; EXPLAIN is allowed when what it explains is.
READ_STATEMENTS = frozenset(
    {
        "SelectWithUnionQuery",
        "ShowTables",
        "ShowColumns",
        "ShowCreateTableQuery",
        "DescribeQuery",
        "ExistsTableQuery",
        "Explain",
    }
)
# Table functions that make data up or read the store's own tables; every other one reads files,
# URLs, other servers or the Python process (chdb's `Python()`), and is refused.
DATA_TABLE_FUNCTIONS = frozenset(
    {
        "numbers",
        "numbers_mt",
        "zeros",
        "zeros_mt",
        "values",
        "view",
        "generate_series",
        "generateseries",
        "generaterandom",
        "null",
        "merge",
        "primes",
    }
)
# Ordinary functions that reach outside the store, by name or by their category in system.functions.
DENIED_FUNCTIONS = frozenset({"file", "logtrace", "getclienthttpheader"})
DENIED_CATEGORIES = ("AI", "Introspection")


class QueryRefused(ValueError):
    """The statement is not one this endpoint runs; the message says why and what to do."""


class QueryInvalid(ValueError):
    """ClickHouse's parser rejects the text (syntax, several statements): its message, first line."""


@dataclass(frozen=True)
class QueryLimits:
    """What one analyst query may take before the engine stops it."""

    max_seconds: int = 30
    max_result_rows: int = 5_000_000
    max_result_bytes: int = 512 << 20
    max_memory_bytes: int = 4 << 30

    def settings(self) -> dict[str, Any]:
        # readonly last: once it is set, the engine refuses to change any other setting.
        return {
            "max_execution_time": self.max_seconds,
            "timeout_overflow_mode": "throw",
            "max_result_rows": self.max_result_rows,
            "max_result_bytes": self.max_result_bytes,
            "result_overflow_mode": "throw",
            "max_memory_usage": self.max_memory_bytes,
            "allow_introspection_functions": 0,
            "readonly": 1,
        }


@dataclass
class AstNode:
    kind: str
    name: str
    children: list[AstNode] = field(default_factory=list)

    def walk(self, parent: AstNode | None = None) -> Any:
        yield self, parent
        for child in self.children:
            yield from child.walk(self)


def parse_explain_ast(text: str) -> AstNode:
    """The tree of `EXPLAIN AST` output: one node per line, one space of indent per level."""
    root: AstNode | None = None
    stack: list[tuple[int, AstNode]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip(" "))
        words = line.split()
        node = AstNode(words[0], words[1] if len(words) > 1 and not words[1].startswith("(") else "")
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            stack[-1][1].children.append(node)
        elif root is None:
            root = node
        else:
            raise QueryRefused("one statement per request")
        stack.append((depth, node))
    if root is None:
        raise QueryRefused("empty query")
    return root


@dataclass(frozen=True)
class Statement:
    text: str  # as ClickHouse formats it: one statement, comments gone
    has_format: bool  # the statement names its own output format


def check_tree(root: AstNode, denied: frozenset[str]) -> bool:
    """Raise QueryRefused unless the parsed statement only reads; True if it carries a FORMAT."""
    if root.kind not in READ_STATEMENTS:
        raise QueryRefused(
            f"this endpoint is read-only: {root.kind} is not served "
            "(SELECT, SHOW, DESCRIBE, EXISTS and EXPLAIN are)"
        )
    statement = root
    if root.kind == "Explain":
        inner = [c for c in root.children if c.kind in READ_STATEMENTS]
        if not inner or any(
            c.kind.endswith("Query") and c.kind not in READ_STATEMENTS for c in root.children
        ):
            raise QueryRefused("EXPLAIN is served for read statements only")
        statement = inner[0]
    has_format = False
    for node in (root, statement):
        for child in node.children:
            if child.kind == "Literal":  # the only literal a statement node holds is INTO OUTFILE's path
                raise QueryRefused("INTO OUTFILE is not served: the result comes back in the response")
            if child.kind == "Identifier":
                has_format = True
    for node, parent in root.walk():
        if node.kind != "Function":
            continue
        name = node.name.lower()
        if parent is not None and parent.kind == "TableExpression":
            if name not in DATA_TABLE_FUNCTIONS:
                raise QueryRefused(
                    f"table function {node.name}() is not served: query the tables of the store "
                    f"(allowed generators: {', '.join(sorted(DATA_TABLE_FUNCTIONS))})"
                )
        elif name in denied:
            raise QueryRefused(f"function {node.name}() reaches outside the store and is not served")
    return has_format


class ReadOnlyQueries:
    """Runs analysts' statements on a handle of their own, read-only and bounded by the engine.

    `embedded`: the client is a chdb handle used for nothing else, so the limits are set once on its
    session (clickhouse-connect's per-call SET/restore cannot restore anything after readonly=1). On
    a server they ride with every request.
    """

    def __init__(self, client: Client, limits: QueryLimits | None = None, *, embedded: bool) -> None:
        self.client = client
        self.limits = limits or QueryLimits()
        self._per_call: dict[str, Any] | None = None
        rows = client.query(
            "SELECT lower(name) FROM system.functions WHERE has({cats:Array(String)}, categories)",
            parameters={"cats": list(DENIED_CATEGORIES)},
        ).result_rows
        self.denied = DENIED_FUNCTIONS | {r[0] for r in rows}
        if embedded:
            for name, value in self.limits.settings().items():
                client.command(
                    f"SET {name} = {value!r}" if isinstance(value, str) else f"SET {name} = {value}"
                )
        else:
            self._per_call = self.limits.settings()

    def statement(self, sql: str, params: dict[str, str] | None = None) -> Statement:
        """The statement as ClickHouse parsed it, or QueryRefused. ``params``: the values of its
        ``{name:Type}`` placeholders, as text (the HTTP interface's ``param_<name>``); the engine
        substitutes them into the tree as literals, so a value can never become a statement."""
        if not sql.strip():
            raise QueryRefused("empty query")
        try:
            text = self.client.query(
                "SELECT formatQuerySingleLine({q:String})", parameters={"q": sql}, settings=self._per_call
            ).result_rows[0][0]
            # No FORMAT of ours here: it would attach to the explained statement and look like the user's.
            tree = self.client.raw_query(
                f"EXPLAIN AST {text}", parameters=params or None, fmt=None, settings=self._per_call
            )
        except Exception as exc:
            raise QueryInvalid(_first_line(exc)) from exc
        return Statement(str(text), check_tree(parse_explain_ast(tree.decode()), self.denied))

    def run(self, sql: str, fmt: str = "TabSeparated", params: dict[str, str] | None = None) -> bytes:
        """The output in `fmt` (unless the statement names its own FORMAT); QueryRefused, QueryInvalid
        or the engine's error (a limit that stopped it, an unknown table...)."""
        stmt = self.statement(sql, params)
        return self.client.raw_query(
            stmt.text,
            parameters=params or None,
            fmt=None if stmt.has_format else fmt,
            settings=self._per_call,
        )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)
