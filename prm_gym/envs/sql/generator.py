"""Procedural text-to-SQL questions with gold queries over the generated databases.

A task family is a config plus a generator that is a pure function of ``(config, seed)``: the same
seed gives the same database, question and gold SQL on any machine. :func:`generate` draws a
pattern and a schema, fills the pattern's template with tables, columns and literal values taken
from the database (so every filter selects something), runs the gold query and keeps the task
only when the result is non-empty and non-degenerate — not all NULL, not a zero count, a filter
that actually filters, at most ``max_result_rows`` rows, and an ``ORDER BY`` whose order is fully
determined (ties are broken by the label column, and the question says so). Otherwise it retries
with the next sub-seed.

Patterns (difficulty level in brackets)::

    select_filter [1]   WHERE col = 'value'
    numeric_filter [1]  WHERE num > x / < x
    between [1]         WHERE num BETWEEN a AND b
    like [1]            WHERE label LIKE 'Ab%' / '%word%'
    distinct [1]        SELECT DISTINCT / COUNT(DISTINCT ...)
    null_check [2]      IS NULL / IS NOT NULL
    aggregate [2]       COUNT / SUM / AVG / MIN / MAX with a filter
    order_limit [2]     ORDER BY num DESC/ASC LIMIT k
    group_by [2]        GROUP BY with COUNT / AVG / MAX
    date_filter [2]     strftime over ISO dates
    join [2]            two-table JOIN with a filter
    having [3]          GROUP BY ... HAVING COUNT(*) > m
    join_having [3]     JOIN + GROUP BY + HAVING
    join_top [3]        JOIN + GROUP BY + ORDER BY aggregate + LIMIT
    join_aggregate [3]  JOIN + GROUP BY a parent column + AVG / SUM / COUNT
    subquery_in [3]     WHERE pk IN (SELECT fk ...)
    scalar_subquery [3] WHERE num > (SELECT AVG(num) ...)
    anti_join [3]       NOT EXISTS / NOT IN
    union [3]           UNION
    except [3]          EXCEPT
    case [3]            CASE WHEN inside SUM or SELECT
    intersect [4]       INTERSECT of a filter and a JOIN
    multi_join [4]      three- or four-table JOIN through a many-to-many relation
    correlated [4]      correlated subquery (per-group maximum / average)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from prm_gym.core.task import Task
from prm_gym.envs.sql.databases import (
    SCHEMAS,
    Bridge,
    Link,
    SchemaSpec,
    TableSpec,
    build_database,
    describe_database,
    schema_spec,
)
from prm_gym.envs.sql.matching import gold_is_ordered
from prm_gym.envs.sql.safety import QueryError, SafeDatabase

__all__ = ["LEVELS", "PATTERNS", "SQLConfig", "generate", "pattern_level"]

LEVELS = (1, 2, 3, 4)
_CORRELATED_MAX_ROWS = 700


@dataclass(frozen=True)
class _Draft:
    question: str
    sql: str
    #: A query whose result must differ from the gold's (the same query without its filter).
    contrast: str | None = None


class _Ctx:
    """What a pattern builds from: a random generator, a schema and a read-only database."""

    def __init__(self, rng: np.random.Generator, spec: SchemaSpec, db: SafeDatabase) -> None:
        self.rng = rng
        self.spec = spec
        self.db = db

    def choice(self, options: Sequence[Any]) -> Any:
        if not options:
            raise _Skip
        return options[int(self.rng.integers(len(options)))]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.db.execute(sql, max_rows=100_000).rows

    def tables(self, *, label: bool = False, numbers: int = 0, categories: int = 0,
               nullable: bool = False, dates: bool = False) -> list[TableSpec]:  # fmt: skip
        return [
            t
            for t in self.spec.tables.values()
            if (t.label or not label)
            and len(t.numbers) >= numbers
            and len(t.categories) >= categories
            and (t.nullable or not nullable)
            and (t.dates or not dates)
        ]

    def column(self, columns: dict[str, str]) -> tuple[str, str]:
        name = self.choice(sorted(columns))
        return name, columns[name]

    def category_value(self, table: str, column: str) -> str:
        """A value of ``column`` held by some but not all rows."""
        counts = self.rows(
            f"SELECT {column}, COUNT(*) FROM {table} WHERE {column} IS NOT NULL "
            f"GROUP BY {column} ORDER BY {column}"
        )
        total = sum(c for _, c in counts)
        options = [v for v, c in counts if c < total]
        return str(self.choice(options))

    def threshold(self, table: str, column: str, lo: float = 0.2, hi: float = 0.8) -> Any:
        """A round number between the ``lo`` and ``hi`` quantiles of ``column``."""
        values = [v for (v,) in self.rows(
            f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY {column}"
        )]  # fmt: skip
        if not values:
            raise _Skip
        q = float(self.rng.uniform(lo, hi))
        value = values[min(len(values) - 1, int(q * len(values)))]
        return _nice(value)


class _Skip(Exception):
    """The pattern cannot be instantiated with these choices; try the next sub-seed."""


def _nice(value: Any) -> int | float:
    if isinstance(value, int):
        return value
    x = float(value)
    if abs(x) >= 1000:
        return round(x / 10) * 10
    if abs(x) >= 10:
        return round(x)
    return round(x, 1)


def _summable(column: str) -> bool:
    """Whether a total of ``column`` means something (a total of years does not)."""
    return not column.endswith("year")


def _a(phrase: str) -> str:
    """``phrase`` with its indefinite article ("an author", "a book")."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _lit(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def _child_key(child: TableSpec) -> tuple[str, str]:
    if child.label:
        return child.label, child.label_nl
    return child.pk, f"{child.singular} id"


def _child_categories(link: Link, child: TableSpec) -> dict[str, str]:
    """The child's categories other than the link's own foreign key."""
    return {k: v for k, v in child.categories.items() if k != link.fk}


def _links(ctx: _Ctx, *, parent_categories: bool = False, child_categories: bool = False,
           child_numbers: bool = False) -> list[Link]:  # fmt: skip
    out = []
    for link in ctx.spec.links:
        parent, child = ctx.spec.table(link.parent), ctx.spec.table(link.child)
        if not parent.label:
            continue
        if parent_categories and not parent.categories:
            continue
        if child_categories and not _child_categories(link, child):
            continue
        if child_numbers and not child.numbers:
            continue
        out.append(link)
    return out


def _tiebreak(ctx: _Ctx, sql_top: str, k: int) -> bool:
    """Whether the first ``k + 1`` sort keys of ``sql_top`` contain a tie."""
    keys = [r[0] for r in ctx.rows(f"{sql_top} LIMIT {k + 1}")]
    return len(set(keys)) < len(keys)


# -- patterns ------------------------------------------------------------------------------
def _select_filter(ctx: _Ctx) -> _Draft:
    t = ctx.choice(ctx.tables(label=True, categories=1))
    col, col_nl = ctx.column(t.categories)
    v = ctx.category_value(t.name, col)
    return _Draft(
        f"List the {t.label_nl} of every {t.singular} whose {col_nl} is '{v}'.",
        f"SELECT {t.label} FROM {t.name} WHERE {col} = {_lit(v)}",
    )


def _numeric_filter(ctx: _Ctx) -> _Draft:
    t = ctx.choice(ctx.tables(label=True, numbers=1))
    col, col_nl = ctx.column(t.numbers)
    if ctx.rng.random() < 0.5:
        x, op, word = ctx.threshold(t.name, col, 0.75, 0.97), ">", "greater than"
    else:
        x, op, word = ctx.threshold(t.name, col, 0.03, 0.25), "<", "less than"
    return _Draft(
        f"Which {t.plural} have {_a(col_nl)} {word} {x}? "
        f"Give each one's {t.label_nl} and {col_nl}.",
        f"SELECT {t.label}, {col} FROM {t.name} WHERE {col} {op} {_lit(x)}",
    )


def _between(ctx: _Ctx) -> _Draft:
    t = ctx.choice(ctx.tables(label=True, numbers=1))
    col, col_nl = ctx.column(t.numbers)
    a = ctx.threshold(t.name, col, 0.3, 0.5)
    b = ctx.threshold(t.name, col, 0.5, 0.7)
    if not a < b:
        raise _Skip
    return _Draft(
        f"List the {t.label_nl} of all {t.plural} with {_a(col_nl)} between {a} and {b} "
        "(both inclusive).",
        f"SELECT {t.label} FROM {t.name} WHERE {col} BETWEEN {_lit(a)} AND {_lit(b)}",
        contrast=f"SELECT {t.label} FROM {t.name}",
    )


def _like(ctx: _Ctx) -> _Draft:
    t = ctx.choice(ctx.tables(label=True))
    assert t.label is not None
    (label,) = ctx.choice(ctx.rows(f"SELECT {t.label} FROM {t.name} ORDER BY {t.pk}"))
    words = [w for w in str(label).split() if w.isalpha() and len(w) >= 4 and w != "The"]
    if words and ctx.rng.random() < 0.5:
        word = str(ctx.choice(words))
        return _Draft(
            f"List the {t.label_nl} of every {t.singular} whose {t.label_nl} contains "
            f"'{word}' (case-insensitive).",
            f"SELECT {t.label} FROM {t.name} WHERE {t.label} LIKE '%{word}%'",
        )
    prefix = str(label)[:2]
    if not prefix.strip() or "%" in prefix or "_" in prefix or "'" in prefix:
        raise _Skip
    return _Draft(
        f"List the {t.label_nl} of every {t.singular} whose {t.label_nl} starts with '{prefix}'.",
        f"SELECT {t.label} FROM {t.name} WHERE {t.label} LIKE '{prefix}%'",
        contrast=f"SELECT {t.label} FROM {t.name}",
    )


def _distinct(ctx: _Ctx) -> _Draft:
    t = ctx.choice(ctx.tables(numbers=1, categories=1))
    cat, cat_nl = ctx.column(t.categories)
    num, num_nl = ctx.column(t.numbers)
    x = ctx.threshold(t.name, num, 0.9, 0.99)
    where = f"WHERE {num} > {_lit(x)}"
    if ctx.rng.random() < 0.5:
        return _Draft(
            f"Which different {cat_nl} values occur among {t.plural} with {_a(num_nl)} greater "
            f"than {x}? List each value once.",
            f"SELECT DISTINCT {cat} FROM {t.name} {where}",
            contrast=f"SELECT DISTINCT {cat} FROM {t.name}",
        )
    return _Draft(
        f"How many different {cat_nl} values occur among {t.plural} with {_a(num_nl)} greater "
        f"than {x}?",
        f"SELECT COUNT(DISTINCT {cat}) FROM {t.name} {where}",
        contrast=f"SELECT COUNT(DISTINCT {cat}) FROM {t.name}",
    )


def _null_check(ctx: _Ctx) -> _Draft:
    t = ctx.choice(ctx.tables(nullable=True))
    col, col_nl = ctx.column(t.nullable)
    form = int(ctx.rng.integers(3))
    if form == 2 and t.label and t.categories:
        cat, cat_nl = ctx.column(t.categories)
        v = ctx.category_value(t.name, cat)
        return _Draft(
            f"List the {t.label_nl} of every {t.singular} whose {cat_nl} is '{v}' and that has "
            f"no {col_nl} recorded (NULL).",
            f"SELECT {t.label} FROM {t.name} WHERE {col} IS NULL AND {cat} = {_lit(v)}",
        )
    if form == 1:
        return _Draft(
            f"How many {t.plural} have {_a(col_nl)} recorded (not NULL)?",
            f"SELECT COUNT(*) FROM {t.name} WHERE {col} IS NOT NULL",
            contrast=f"SELECT COUNT(*) FROM {t.name}",
        )
    return _Draft(
        f"How many {t.plural} have no {col_nl} recorded (NULL)?",
        f"SELECT COUNT(*) FROM {t.name} WHERE {col} IS NULL",
    )


_AGGREGATES = {"SUM": "total", "AVG": "average", "MIN": "smallest", "MAX": "largest"}


def _aggregate(ctx: _Ctx) -> _Draft:
    t = ctx.choice(ctx.tables(numbers=1))
    num, num_nl = ctx.column(t.numbers)
    fn = ctx.choice(["COUNT", *sorted(_AGGREGATES)])
    if fn == "SUM" and not _summable(num):
        fn = "AVG"
    if fn == "COUNT":
        x = ctx.threshold(t.name, num, 0.2, 0.8)
        return _Draft(
            f"How many {t.plural} have {_a(num_nl)} greater than {x}?",
            f"SELECT COUNT(*) FROM {t.name} WHERE {num} > {_lit(x)}",
        )
    if t.categories:
        cat, cat_nl = ctx.column(t.categories)
        v = ctx.category_value(t.name, cat)
        return _Draft(
            f"What is the {_AGGREGATES[fn]} {num_nl} of {t.plural} whose {cat_nl} is '{v}'?",
            f"SELECT {fn}({num}) FROM {t.name} WHERE {cat} = {_lit(v)}",
            contrast=f"SELECT {fn}({num}) FROM {t.name}",
        )
    return _Draft(
        f"What is the {_AGGREGATES[fn]} {num_nl} over all {t.plural}?",
        f"SELECT {fn}({num}) FROM {t.name}",
    )


def _order_limit(ctx: _Ctx) -> _Draft:
    t = ctx.choice(ctx.tables(label=True, numbers=1))
    num, num_nl = ctx.column(t.numbers)
    k = int(ctx.rng.integers(3, 11))
    desc = bool(ctx.rng.random() < 0.6)
    direction, most, order_words = (
        ("DESC", "highest", "highest first") if desc else ("ASC", "lowest", "lowest first")
    )
    order = f"{num} {direction}"
    tie = ""
    if _tiebreak(ctx, f"SELECT {num} FROM {t.name} ORDER BY {order}", k):
        order += f", {t.label} ASC"
        tie = f", breaking ties by {t.label_nl} in alphabetical order"
    return _Draft(
        f"Which {k} {t.plural} have the {most} {num_nl}? Give each one's {t.label_nl} and "
        f"{num_nl}, {order_words}{tie}.",
        f"SELECT {t.label}, {num} FROM {t.name} ORDER BY {order} LIMIT {k}",
    )


def _group_by(ctx: _Ctx) -> _Draft:
    t = ctx.choice(ctx.tables(categories=1))
    cat, cat_nl = ctx.column(t.categories)
    if t.numbers and ctx.rng.random() < 0.5:
        num, num_nl = ctx.column(t.numbers)
        fn = ctx.choice(["AVG", "MAX", "SUM"] if _summable(num) else ["AVG", "MAX"])
        return _Draft(
            f"For each {cat_nl}, what is the {_AGGREGATES[fn]} {num_nl} of {t.plural}? "
            f"Give the {cat_nl} and that value.",
            f"SELECT {cat}, {fn}({num}) FROM {t.name} GROUP BY {cat}",
        )
    return _Draft(
        f"How many {t.plural} are there for each {cat_nl}? Give the {cat_nl} and the count.",
        f"SELECT {cat}, COUNT(*) FROM {t.name} GROUP BY {cat}",
    )


_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


def _date_filter(ctx: _Ctx) -> _Draft:
    t = ctx.choice(ctx.tables(dates=True))
    col, col_nl = ctx.column(t.dates)
    (day,) = ctx.choice(ctx.rows(f"SELECT {col} FROM {t.name} ORDER BY {t.pk}"))
    year, month = str(day)[:4], str(day)[5:7]
    if ctx.rng.random() < 0.5:
        return _Draft(
            f"How many {t.plural} have {_a(col_nl)} in the year {year}?",
            f"SELECT COUNT(*) FROM {t.name} WHERE strftime('%Y', {col}) = '{year}'",
            contrast=f"SELECT COUNT(*) FROM {t.name}",
        )
    return _Draft(
        f"How many {t.plural} have {_a(col_nl)} in {_MONTHS[int(month) - 1]} {year}?",
        f"SELECT COUNT(*) FROM {t.name} WHERE strftime('%Y-%m', {col}) = '{year}-{month}'",
    )


def _join_sql(link: Link, parent: TableSpec) -> str:
    return f"{link.child} AS c JOIN {link.parent} AS p ON c.{link.fk} = p.{parent.pk}"


def _join(ctx: _Ctx) -> _Draft:
    link = ctx.choice(_links(ctx))
    parent, child = ctx.spec.table(link.parent), ctx.spec.table(link.child)
    key, key_nl = _child_key(child)
    frm = _join_sql(link, parent)
    child_cats = _child_categories(link, child)
    if parent.categories and (not child_cats or ctx.rng.random() < 0.5):
        cat, cat_nl = ctx.column(parent.categories)
        v = ctx.category_value(parent.name, cat)
        return _Draft(
            f"For every {link.child_singular} of {_a(parent.singular)} whose {cat_nl} is '{v}', "
            f"give the {key_nl} and the {parent.singular}'s {parent.label_nl}.",
            f"SELECT c.{key}, p.{parent.label} FROM {frm} WHERE p.{cat} = {_lit(v)}",
        )
    cat, cat_nl = ctx.column(child_cats)
    v = ctx.category_value(child.name, cat)
    return _Draft(
        f"For every {child.singular} whose {cat_nl} is '{v}', give the {key_nl} and the "
        f"{parent.label_nl} of its {link.parent_role or parent.singular}.",
        f"SELECT c.{key}, p.{parent.label} FROM {frm} WHERE c.{cat} = {_lit(v)}",
    )


def _having(ctx: _Ctx) -> _Draft:
    t = ctx.choice(ctx.tables(categories=1))
    cat, cat_nl = ctx.column(t.categories)
    counts = sorted(c for _, c in ctx.rows(f"SELECT {cat}, COUNT(*) FROM {t.name} GROUP BY {cat}"))
    if len(counts) < 3:
        raise _Skip
    m = counts[int(ctx.rng.integers(1, len(counts) - 1))]
    if m < 2:
        raise _Skip
    return _Draft(
        f"Which {cat_nl} values are shared by more than {m} {t.plural}? Give each {cat_nl} "
        f"and the number of {t.plural}.",
        f"SELECT {cat}, COUNT(*) FROM {t.name} GROUP BY {cat} HAVING COUNT(*) > {m}",
    )


def _join_having(ctx: _Ctx) -> _Draft:
    link = ctx.choice(_links(ctx))
    parent = ctx.spec.table(link.parent)
    frm = _join_sql(link, parent)
    counts = sorted(c for (c,) in ctx.rows(f"SELECT COUNT(*) FROM {frm} GROUP BY p.{parent.pk}"))
    m = counts[min(len(counts) - 1, int(ctx.rng.uniform(0.8, 0.98) * len(counts)))]
    return _Draft(
        f"Which {parent.plural} have at least {m} {link.child_plural}? Give each one's "
        f"{parent.label_nl} and the number of {link.child_plural}.",
        f"SELECT p.{parent.label}, COUNT(*) FROM {frm} GROUP BY p.{parent.pk} "
        f"HAVING COUNT(*) >= {m}",
    )


def _join_top(ctx: _Ctx) -> _Draft:
    link = ctx.choice(_links(ctx))
    parent, child = ctx.spec.table(link.parent), ctx.spec.table(link.child)
    frm = _join_sql(link, parent)
    k = int(ctx.rng.integers(3, 8))
    summable = {k: v for k, v in child.numbers.items() if _summable(k)}
    if summable and ctx.rng.random() < 0.5:
        num, num_nl = ctx.column(summable)
        agg, what = f"SUM(c.{num})", f"the highest total {num_nl} over their {link.child_plural}"
        give = "that total"
    else:
        agg, what = "COUNT(*)", f"the most {link.child_plural}"
        give = f"the number of {link.child_plural}"
    order = f"{agg} DESC"
    tie = ""
    if _tiebreak(ctx, f"SELECT {agg} FROM {frm} GROUP BY p.{parent.pk} ORDER BY {order}", k):
        order += f", p.{parent.label} ASC"
        tie = f", breaking ties by {parent.label_nl} in alphabetical order"
    return _Draft(
        f"Which {k} {parent.plural} have {what}? Give each one's {parent.label_nl} and {give}, "
        f"largest first{tie}.",
        f"SELECT p.{parent.label}, {agg} FROM {frm} GROUP BY p.{parent.pk} "
        f"ORDER BY {order} LIMIT {k}",
    )


def _join_aggregate(ctx: _Ctx) -> _Draft:
    link = ctx.choice(_links(ctx, parent_categories=True))
    parent, child = ctx.spec.table(link.parent), ctx.spec.table(link.child)
    cat, cat_nl = ctx.column(parent.categories)
    frm = _join_sql(link, parent)
    if child.numbers and ctx.rng.random() < 0.6:
        num, num_nl = ctx.column(child.numbers)
        fn = ctx.choice(["AVG", "SUM"] if _summable(num) else ["AVG"])
        return _Draft(
            f"For each {parent.singular} {cat_nl}, what is the {_AGGREGATES[fn]} {num_nl} of "
            f"the {link.child_plural} of {parent.plural} with that {cat_nl}? Give the {cat_nl} "
            "and that value.",
            f"SELECT p.{cat}, {fn}(c.{num}) FROM {frm} GROUP BY p.{cat}",
        )
    return _Draft(
        f"For each {parent.singular} {cat_nl}, how many {link.child_plural} belong to "
        f"{parent.plural} with that {cat_nl}? Give the {cat_nl} and the count.",
        f"SELECT p.{cat}, COUNT(*) FROM {frm} GROUP BY p.{cat}",
    )


def _subquery_in(ctx: _Ctx) -> _Draft:
    link = ctx.choice(_links(ctx, child_categories=True))
    parent, child = ctx.spec.table(link.parent), ctx.spec.table(link.child)
    cat, cat_nl = ctx.column(_child_categories(link, child))
    v = ctx.category_value(child.name, cat)
    return _Draft(
        f"List the {parent.label_nl} of every {parent.singular} that has at least one "
        f"{link.child_singular} whose {cat_nl} is '{v}' (each {parent.singular} once).",
        f"SELECT {parent.label} FROM {parent.name} WHERE {parent.pk} IN "
        f"(SELECT {link.fk} FROM {child.name} WHERE {cat} = {_lit(v)})",
        contrast=f"SELECT {parent.label} FROM {parent.name}",
    )


def _scalar_subquery(ctx: _Ctx) -> _Draft:
    t = ctx.choice(ctx.tables(label=True, numbers=1))
    num, num_nl = ctx.column(t.numbers)
    if t.categories and ctx.rng.random() < 0.6:
        cat, cat_nl = ctx.column(t.categories)
        v = ctx.category_value(t.name, cat)
        return _Draft(
            f"Among {t.plural} whose {cat_nl} is '{v}', which have {_a(num_nl)} above the "
            f"average {num_nl} of all {t.plural}? Give each one's {t.label_nl} and {num_nl}.",
            f"SELECT {t.label}, {num} FROM {t.name} WHERE {cat} = {_lit(v)} AND {num} > "
            f"(SELECT AVG({num}) FROM {t.name})",
            contrast=f"SELECT {t.label}, {num} FROM {t.name} WHERE {cat} = {_lit(v)}",
        )
    fn, word = ("MAX", "highest") if ctx.rng.random() < 0.5 else ("MIN", "lowest")
    return _Draft(
        f"Which {t.plural} have the {word} {num_nl} of all {t.plural}? Give each one's "
        f"{t.label_nl} and {num_nl} (all of them if several share it).",
        f"SELECT {t.label}, {num} FROM {t.name} WHERE {num} = (SELECT {fn}({num}) FROM {t.name})",
    )


def _anti_join(ctx: _Ctx) -> _Draft:
    link = ctx.choice(_links(ctx))
    parent, child = ctx.spec.table(link.parent), ctx.spec.table(link.child)
    child_cats = _child_categories(link, child)
    if child_cats and ctx.rng.random() < 0.6:
        cat, cat_nl = ctx.column(child_cats)
        v = ctx.category_value(child.name, cat)
        return _Draft(
            f"Which {parent.plural} have no {link.child_singular} whose {cat_nl} is '{v}'? "
            f"List their {parent.label_nl}.",
            f"SELECT {parent.label} FROM {parent.name} WHERE {parent.pk} NOT IN "
            f"(SELECT {link.fk} FROM {child.name} WHERE {cat} = {_lit(v)})",
            contrast=f"SELECT {parent.label} FROM {parent.name}",
        )
    return _Draft(
        f"Which {parent.plural} have no {link.child_plural} at all? List their {parent.label_nl}.",
        f"SELECT p.{parent.label} FROM {parent.name} AS p WHERE NOT EXISTS "
        f"(SELECT 1 FROM {child.name} AS c WHERE c.{link.fk} = p.{parent.pk})",
    )


def _set_parts(ctx: _Ctx) -> tuple[TableSpec, str, str, str, str, Any]:
    t = ctx.choice(ctx.tables(label=True, numbers=1, categories=1))
    cat, cat_nl = ctx.column(t.categories)
    num, num_nl = ctx.column(t.numbers)
    return t, cat, cat_nl, num, num_nl, ctx.category_value(t.name, cat)


def _union(ctx: _Ctx) -> _Draft:
    t, cat, cat_nl, num, num_nl, v = _set_parts(ctx)
    x = ctx.threshold(t.name, num, 0.9, 0.98)
    return _Draft(
        f"List, without duplicates, the {t.label_nl} of every {t.singular} whose {cat_nl} is "
        f"'{v}' or whose {num_nl} is greater than {x}.",
        f"SELECT {t.label} FROM {t.name} WHERE {cat} = {_lit(v)} UNION "
        f"SELECT {t.label} FROM {t.name} WHERE {num} > {_lit(x)}",
    )


def _except(ctx: _Ctx) -> _Draft:
    t, cat, cat_nl, num, num_nl, v = _set_parts(ctx)
    x = ctx.threshold(t.name, num, 0.3, 0.7)
    return _Draft(
        f"List, without duplicates, the {t.label_nl} of every {t.singular} whose {cat_nl} is "
        f"'{v}', except those whose {num_nl} is greater than {x}.",
        f"SELECT {t.label} FROM {t.name} WHERE {cat} = {_lit(v)} EXCEPT "
        f"SELECT {t.label} FROM {t.name} WHERE {num} > {_lit(x)}",
        contrast=f"SELECT {t.label} FROM {t.name} WHERE {cat} = {_lit(v)}",
    )


def _intersect(ctx: _Ctx) -> _Draft:
    link = ctx.choice(_links(ctx, parent_categories=True, child_categories=True))
    parent, child = ctx.spec.table(link.parent), ctx.spec.table(link.child)
    pcat, pcat_nl = ctx.column(parent.categories)
    ccat, ccat_nl = ctx.column(_child_categories(link, child))
    v, w = ctx.category_value(parent.name, pcat), ctx.category_value(child.name, ccat)
    return _Draft(
        f"Which {parent.plural} whose {pcat_nl} is '{v}' also have at least one "
        f"{link.child_singular} whose {ccat_nl} is '{w}'? List each {parent.label_nl} once.",
        f"SELECT {parent.label} FROM {parent.name} WHERE {pcat} = {_lit(v)} INTERSECT "
        f"SELECT p.{parent.label} FROM {_join_sql(link, parent)} WHERE c.{ccat} = {_lit(w)}",
        contrast=f"SELECT {parent.label} FROM {parent.name} WHERE {pcat} = {_lit(v)}",
    )


def _case(ctx: _Ctx) -> _Draft:
    t = ctx.choice(ctx.tables(numbers=1, categories=1))
    cat, cat_nl = ctx.column(t.categories)
    num, num_nl = ctx.column(t.numbers)
    if t.label and ctx.rng.random() < 0.5:
        v = ctx.category_value(t.name, cat)
        x = ctx.threshold(t.name, num, 0.3, 0.7)
        return _Draft(
            f"For each {t.singular} whose {cat_nl} is '{v}', give its {t.label_nl} and the "
            f"text 'high' if its {num_nl} is at least {x}, otherwise 'low'.",
            f"SELECT {t.label}, CASE WHEN {num} >= {_lit(x)} THEN 'high' ELSE 'low' END "
            f"FROM {t.name} WHERE {cat} = {_lit(v)}",
        )
    x = ctx.threshold(t.name, num, 0.85, 0.97)
    return _Draft(
        f"For each {cat_nl}, how many {t.plural} have {_a(num_nl)} greater than {x}? Include "
        f"every {cat_nl}, with 0 where there are none.",
        f"SELECT {cat}, SUM(CASE WHEN {num} > {_lit(x)} THEN 1 ELSE 0 END) FROM {t.name} "
        f"GROUP BY {cat}",
    )


def _multi_join(ctx: _Ctx) -> _Draft:
    bridge: Bridge = ctx.choice(list(ctx.spec.bridges))
    a, b = ctx.spec.table(bridge.a), ctx.spec.table(bridge.b)
    if not b.categories:
        raise _Skip
    cat, cat_nl = ctx.column(b.categories)
    v = ctx.category_value(b.name, cat)
    if a.categories and ctx.rng.random() < 0.6:
        acat, acat_nl = ctx.column(a.categories)
        w = ctx.category_value(a.name, acat)
        return _Draft(
            f"Which {a.plural} whose {acat_nl} is '{w}' {bridge.verb} at least one {b.singular} "
            f"whose {cat_nl} is '{v}'? List each {a.singular}'s {a.label_nl} once.",
            f"SELECT DISTINCT a.{a.label} FROM {bridge.joins} "
            f"WHERE b.{cat} = {_lit(v)} AND a.{acat} = {_lit(w)}",
        )
    return _Draft(
        f"How many different {a.plural} {bridge.verb} at least one {b.singular} whose {cat_nl} "
        f"is '{v}'?",
        f"SELECT COUNT(DISTINCT a.{a.pk}) FROM {bridge.joins} WHERE b.{cat} = {_lit(v)}",
    )


def _correlated(ctx: _Ctx) -> _Draft:
    # The subquery runs once per row: keep to tables small enough that a correct but unindexed
    # correlated query finishes well within the env's time bound.
    small = [
        t
        for t in ctx.tables(label=True, numbers=1, categories=1)
        if ctx.rows(f"SELECT COUNT(*) FROM {t.name}")[0][0] <= _CORRELATED_MAX_ROWS
    ]
    t = ctx.choice(small)
    cat, cat_nl = ctx.column(t.categories)
    num, num_nl = ctx.column(t.numbers)
    if ctx.rng.random() < 0.5:
        fn, word = ("MAX", "highest") if ctx.rng.random() < 0.5 else ("MIN", "lowest")
        return _Draft(
            f"For each {cat_nl}, which {t.singular} has the {word} {num_nl} among {t.plural} "
            f"with that {cat_nl}? Give the {cat_nl}, the {t.label_nl} and the {num_nl} "
            "(all of them if several share it).",
            f"SELECT t1.{cat}, t1.{t.label}, t1.{num} FROM {t.name} AS t1 WHERE t1.{num} = "
            f"(SELECT {fn}(t2.{num}) FROM {t.name} AS t2 WHERE t2.{cat} = t1.{cat})",
        )
    return _Draft(
        f"Which {t.plural} have {_a(num_nl)} more than twice the average {num_nl} of {t.plural} "
        f"with the same {cat_nl}? Give each one's {t.label_nl} and {num_nl}.",
        f"SELECT t1.{t.label}, t1.{num} FROM {t.name} AS t1 WHERE t1.{num} > 2 * "
        f"(SELECT AVG(t2.{num}) FROM {t.name} AS t2 WHERE t2.{cat} = t1.{cat})",
    )


#: pattern -> (difficulty level, builder)
PATTERNS: dict[str, tuple[int, Callable[[_Ctx], _Draft]]] = {
    "select_filter": (1, _select_filter),
    "numeric_filter": (1, _numeric_filter),
    "between": (1, _between),
    "like": (1, _like),
    "distinct": (1, _distinct),
    "null_check": (2, _null_check),
    "aggregate": (2, _aggregate),
    "order_limit": (2, _order_limit),
    "group_by": (2, _group_by),
    "date_filter": (2, _date_filter),
    "join": (2, _join),
    "having": (3, _having),
    "join_having": (3, _join_having),
    "join_top": (3, _join_top),
    "join_aggregate": (3, _join_aggregate),
    "subquery_in": (3, _subquery_in),
    "scalar_subquery": (3, _scalar_subquery),
    "anti_join": (3, _anti_join),
    "union": (3, _union),
    "except": (3, _except),
    "case": (3, _case),
    "intersect": (4, _intersect),
    "multi_join": (4, _multi_join),
    "correlated": (4, _correlated),
}


def pattern_level(pattern: str) -> int:
    """The difficulty level (1 easy … 4 hard) of ``pattern``."""
    return PATTERNS[pattern][0]


@dataclass(frozen=True)
class SQLConfig:
    """Which questions :func:`generate` draws, and over which databases.

    Attributes:
        schemas: Generated schemas to ask about (drawn uniformly).
        patterns: SQL patterns (``None``: every pattern of the chosen ``levels``).
        levels: Difficulty levels (1–4) whose patterns are drawn uniformly.
        db_seed: Seed of the generated databases (one database per schema and seed).
        test_suite: Databases per schema a solution is checked on: seeds ``db_seed`` (the one
            the agent explores) to ``db_seed + test_suite - 1`` (Spider test-suite evaluation).
        cache_dir: Where databases are built (``None``: :func:`default_cache_dir`).
        sample_rows: Sample rows per table shown in the prompt.
        max_result_rows: Most rows a gold result may have.
        max_attempts: Sub-seeds tried before giving up on a seed.
    """

    schemas: tuple[str, ...] = SCHEMAS
    patterns: tuple[str, ...] | None = None
    levels: tuple[int, ...] = LEVELS
    db_seed: int = 0
    test_suite: int = 1
    cache_dir: str | None = None
    sample_rows: int = 3
    max_result_rows: int = 200
    max_attempts: int = 40

    def __post_init__(self) -> None:
        bad = [s for s in self.schemas if s not in SCHEMAS]
        if bad or not self.schemas:
            raise ValueError(f"schemas must be a non-empty subset of {SCHEMAS}, got {bad}")
        if not self.levels or any(lvl not in LEVELS for lvl in self.levels):
            raise ValueError(f"levels must be a non-empty subset of {LEVELS}")
        if self.patterns is not None:
            unknown = [p for p in self.patterns if p not in PATTERNS]
            if unknown or not self.patterns:
                raise ValueError(
                    f"unknown patterns {unknown}; choose a non-empty subset of {tuple(PATTERNS)}"
                )
        if self.test_suite < 1:
            raise ValueError(f"test_suite must be >= 1, got {self.test_suite}")
        if not self.active_patterns():
            raise ValueError("no pattern matches both patterns= and levels=")

    def active_patterns(self) -> tuple[str, ...]:
        names = self.patterns if self.patterns is not None else tuple(PATTERNS)
        return tuple(p for p in names if PATTERNS[p][0] in self.levels)


def _degenerate(db: SafeDatabase, draft: _Draft, rows: list[tuple[Any, ...]], limit: int) -> bool:
    if not rows or len(rows) > limit:
        return True
    cells = [v for row in rows for v in row]
    if all(v is None for v in cells):
        return True
    if len(cells) == 1 and cells[0] == 0:
        return True
    if draft.contrast is not None:
        other = db.execute(draft.contrast, max_rows=100_000).rows
        if Counter(other) == Counter(rows):
            return True
    return False


def generate(config: SQLConfig, seed: int) -> Task:
    """The task for ``seed`` under ``config`` — a pure function of its arguments.

    Builds the configured databases on first use (see :func:`build_database`).
    """
    rng = np.random.default_rng(seed)
    patterns = config.active_patterns()
    pattern = str(patterns[int(rng.integers(len(patterns)))])
    level, build = PATTERNS[pattern]
    for attempt in range(config.max_attempts):
        sub = np.random.default_rng([seed, attempt])
        schema = str(config.schemas[int(sub.integers(len(config.schemas)))])
        path = build_database(schema, config.db_seed, config.cache_dir)
        with SafeDatabase(path, timeout=10.0) as db:
            try:
                draft = build(_Ctx(sub, schema_spec(schema), db))
                rows = db.execute(draft.sql, max_rows=config.max_result_rows + 1).rows
            except (_Skip, QueryError):
                continue
            if _degenerate(db, draft, rows, config.max_result_rows):
                continue
        return _make_task(config, seed, pattern, level, schema, path, draft)
    raise RuntimeError(
        f"no valid {pattern!r} task for seed {seed} after {config.max_attempts} attempts"
    )


def _make_task(
    config: SQLConfig, seed: int, pattern: str, level: int, schema: str, path: Path, draft: _Draft
) -> Task:
    schema_text = describe_database(str(path), config.sample_rows)
    prompt = f"{draft.question}\n\nDatabase '{schema}' (SQLite) schema:\n\n{schema_text}"
    return Task(
        id=f"sql-{schema}-{pattern}-L{level}-{seed}",
        prompt=prompt,
        answer=draft.sql,
        metadata={
            "source": "generated",
            "question": draft.question,
            "db_id": schema,
            "db_path": str(path),
            "db_seed": config.db_seed,
            "test_suite_paths": tuple(
                str(build_database(schema, config.db_seed + k, config.cache_dir))
                for k in range(1, config.test_suite)
            ),
            "pattern": pattern,
            "level": level,
            "seed": seed,
            "ordered": gold_is_ordered(draft.sql),
        },
    )
