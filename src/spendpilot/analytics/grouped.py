"""Grouped reads of one rollup: each question declared once, asked alone or together with others in one statement.

A read is its group keys, its figures (aggregates), which rows it counts and which groups it keeps. Asked alone it
is an ordinary SELECT ... GROUP BY. Several reads of the same rows are asked together as one statement with a
grouping set each: the engine plans and scans the rollup once instead of once per read, which for a small org is
most of what a read costs (planning a statement over a MergeTree table costs milliseconds, its few thousand rows
far less). Each read's rows are then told apart by which keys their set groups by; a read's row condition becomes
a key of its set (its groups where the condition is false are dropped), so its aggregates stay exactly its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# The fused statement's column that says which grouping set a row belongs to.
SET_COLUMN = "grouping_set"


@dataclass(frozen=True)
class GroupedRead:
    keys: tuple[tuple[str, str], ...]  # (name, expression) grouped by
    figures: tuple[tuple[str, str], ...]  # (name, aggregate expression)
    rows: str = ""  # which rows of the window count (a condition on the rollup's columns)
    keep: str = ""  # which groups are kept: a condition on aggregate expressions (not on names)
    order: str = ""  # key name the rows are ordered by

    def sql(self, source: str, where: str) -> str:
        """The read alone, from `source` where `where` holds."""
        columns = [expr if expr == name else f"{expr} AS {name}" for name, expr in self.keys]
        columns += [f"{expr} AS {name}" for name, expr in self.figures]
        text = "\nSELECT " + ",\n       ".join(columns) + f"\nFROM {source}\nWHERE {where}"
        text += f" AND {self.rows}\n" if self.rows else "\n"
        if self.keys:
            text += "GROUP BY " + ", ".join(name for name, _ in self.keys) + "\n"
        if self.keep:
            text += f"HAVING {self.keep}\n"
        if self.order:
            text += f"ORDER BY {self.order}\n"
        return text

    def set_keys(self) -> list[str]:
        """The expressions its grouping set groups by in a fused statement."""
        return [expr for _, expr in self.keys] + ([_flag(self.rows)] if self.rows else [])


def _flag(condition: str) -> str:
    return f"toUInt8({condition})"


@dataclass(frozen=True)
class Fused:
    """Several reads asked in one statement (`sql`); `split` gives each read's rows from its result."""

    reads: tuple[GroupedRead, ...]
    sql: str
    key_columns: dict[str, str]  # expression -> column of the fused statement
    figure_columns: dict[str, str]
    masks: tuple[int, ...]  # per read: the value of SET_COLUMN on its rows

    def split(self, rows: list[dict], by: Sequence[str] = ()) -> dict[tuple, list[list[dict]]]:
        """Each read's rows as it alone would answer them, per value of the `by` columns."""
        out: dict[tuple, list[list[dict]]] = {}
        for row in rows:
            at = tuple(row[name] for name in by)
            per_read = out.setdefault(at, [[] for _ in self.reads])
            for index, read in enumerate(self.reads):
                if row[SET_COLUMN] == self.masks[index]:
                    answer = {name: row[self.key_columns[expr]] for name, expr in read.keys}
                    answer.update((name, row[self.figure_columns[expr]]) for name, expr in read.figures)
                    per_read[index].append(answer)
        return out


def fuse(reads: Sequence[GroupedRead], source: str, where: str, by: Sequence[str] = ()) -> Fused:
    """One statement for `reads` over the same rows, each read's groups also split by the `by` columns (which
    the statement returns under their own names)."""
    key_columns: dict[str, str] = {}
    figure_columns: dict[str, str] = {}
    for read in reads:
        for expr in read.set_keys():
            key_columns.setdefault(expr, f"k{len(key_columns)}")
        for _, expr in read.figures:
            figure_columns.setdefault(expr, f"f{len(figure_columns)}")
    # grouping() answers a bit per argument, the first the highest, set when the row's set does not group by it.
    every = list(key_columns)
    masks = tuple(sum(1 << (len(every) - 1 - i) for i, expr in enumerate(every) if expr not in read.set_keys())
                  for read in reads)
    sets: dict[int, GroupedRead] = {}
    for read, mask in zip(reads, masks, strict=True):
        if sets.setdefault(mask, read) != read and (sets[mask].rows, sets[mask].keep) != (read.rows, read.keep):
            raise ValueError("reads grouped by the same keys must count and keep the same rows")
    if len({read.order for read in reads if read.order}) > 1:
        raise ValueError("at most one ordering")
    # Sets, the set column and the kept groups name the key columns, not their expressions: the statement's
    # planning, most of its cost, grows with the expressions it spells out.
    columns = [*by, f"grouping({', '.join(key_columns.values())}) AS {SET_COLUMN}"]
    columns += [f"{expr} AS {column}" for expr, column in key_columns.items()]
    columns += [f"{expr} AS {column}" for expr, column in figure_columns.items()]
    group_sets = ", ".join("(" + ", ".join([*by, *(key_columns[expr] for expr in read.set_keys())]) + ")"
                           for read in sets.values())
    kept = [f"({SET_COLUMN} != {mask} OR ({_kept(read, key_columns)}))"
            for mask, read in sets.items() if read.rows or read.keep]
    ordered = next((read for read in reads if read.order), None)
    text = ("\nSELECT " + ",\n       ".join(columns) + f"\nFROM {source}\nWHERE {where}\n"
            f"GROUP BY GROUPING SETS ({group_sets})\n")
    if kept:
        text += "HAVING " + "\n   AND ".join(kept) + "\n"
    if ordered is not None:
        text += f"ORDER BY {key_columns[dict(ordered.keys)[ordered.order]]}\n"
    return Fused(tuple(reads), text, key_columns, figure_columns, masks)


def _kept(read: GroupedRead, key_columns: dict[str, str]) -> str:
    conditions = ([f"{key_columns[_flag(read.rows)]} = 1"] if read.rows else []) + ([read.keep] if read.keep else [])
    return " AND ".join(conditions)
