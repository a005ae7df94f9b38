"""Several Milvus calls at once from threads, their results in order.

Why: a Strong read on a server waits for the next time tick (200 ms on 2.3.5) whatever
its size, and a search or an upsert waits on the network and the server's own
threads; several in flight fill that wait. Milvus Lite runs in this process, under its
lock: there one at a time is as fast.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def in_order(
    work: Callable[[Item], Result], items: Iterable[Item], calls: int, name: str = "milvus"
) -> Iterator[Result]:
    """`work(item)` for every item, up to `calls` at once, yielded in the items' order.
    At most `calls` results wait to be taken, so memory stays a few batches. When the
    caller stops taking (an error, a lost lock), the items not yet started never are;
    the calls under way finish before this returns."""
    if calls <= 1:
        yield from map(work, items)
        return
    pending: deque[Future[Result]] = deque()
    pool = ThreadPoolExecutor(calls, thread_name_prefix=name)
    try:
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) > calls:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
