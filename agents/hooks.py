"""Faust's hooks with the types a strict checker needs: `timer` and `task` (faust hides its own
decorators from type checkers), `on_assigned` (the rebalance signal, whose receivers faust
calls as `(sender, assigned, signal=...)`), and `recovered` (table recovery finished).

They register the function and return it unchanged: nothing calls a timer or task directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import faust
from faust.tables.manager import TableManager

Job = Callable[[], Awaitable[None]]
Assigned = Callable[[set[Any]], Awaitable[None]]


def timer(app: faust.App, interval: float, name: str) -> Callable[[Job], Job]:
    """`@app.timer(interval=..., name=...)`: run the function every `interval` seconds."""

    def register(fun: Job) -> Job:
        app.timer(interval=interval, name=name)(fun)
        return fun

    return register


def task(app: faust.App) -> Callable[[Job], Job]:
    """`@app.task`: run the function once the app has started."""

    def register(fun: Job) -> Job:
        app.task(fun)
        return fun

    return register


def on_assigned(app: faust.App) -> Callable[[Assigned], Assigned]:
    """Call the function with the partitions (TopicPartitions) assigned after each rebalance."""

    def register(fun: Assigned) -> Assigned:
        async def receiver(sender: Any, /, *args: Any, **kwargs: Any) -> None:
            await fun(args[0])

        app.on_partitions_assigned.connect(receiver)
        return fun

    return register


def recovered(app: faust.App) -> bool:
    """Whether the app's tables have recovered from their changelogs."""
    # App.tables is typed as the TableManagerT interface, which leaves out the recovery the
    # concrete TableManager (the only one faust builds) has.
    return cast(TableManager, app.tables).recovery.completed.is_set()
