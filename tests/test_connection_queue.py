"""The line for a database connection (service/store/connection_queue.py), in process: first come,
first served, bounded in length and in wait, and never more slots out than there are.
(Over HTTP: tests/test_resilience.py, section 2c.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from service.store.connection_queue import ConnectionQueue, Overloaded


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=10))


def test_free_slots_are_taken_without_waiting() -> None:
    async def scenario() -> None:
        queue = ConnectionQueue(slots=2, max_waiting=0, max_wait_s=1)
        await queue.acquire()
        await queue.acquire()
        assert queue.in_use == 2
        with pytest.raises(Overloaded, match="0 requests are already waiting"):
            await queue.acquire()
        queue.release()
        await queue.acquire()
        assert (queue.refused_full, queue.refused_slow) == (1, 0)

    run(scenario)


def test_waiters_are_served_in_order_and_a_full_line_refuses_at_once() -> None:
    async def scenario() -> None:
        queue = ConnectionQueue(slots=1, max_waiting=3, max_wait_s=5)
        await queue.acquire()
        served: list[int] = []

        async def wait(number: int) -> None:
            await queue.acquire()
            served.append(number)

        waiters = [asyncio.create_task(wait(number)) for number in range(3)]
        await asyncio.sleep(0)
        assert queue.waiting == 3
        with pytest.raises(Overloaded, match="3 requests are already waiting"):
            await queue.acquire()
        for _ in range(3):
            queue.release()
            await asyncio.sleep(0)
        await asyncio.gather(*waiters)
        assert served == [0, 1, 2]
        assert queue.in_use == 1 and queue.waiting == 0

    run(scenario)


def test_a_wait_longer_than_the_limit_is_refused() -> None:
    async def scenario() -> None:
        queue = ConnectionQueue(slots=1, max_waiting=10, max_wait_s=0.05)
        await queue.acquire()
        started = asyncio.get_running_loop().time()
        with pytest.raises(Overloaded, match="within 50 ms"):
            await queue.acquire()
        assert asyncio.get_running_loop().time() - started >= 0.05
        assert queue.waiting == 0 and queue.refused_slow == 1
        queue.release()
        assert queue.in_use == 0

    run(scenario)


def test_a_cancelled_waiter_handed_a_slot_passes_it_on() -> None:
    async def scenario() -> None:
        queue = ConnectionQueue(slots=1, max_waiting=10, max_wait_s=5)
        await queue.acquire()
        first = asyncio.create_task(queue.acquire())
        second = asyncio.create_task(queue.acquire())
        await asyncio.sleep(0)
        queue.release()  # the slot goes to `first`...
        first.cancel()  # ... which is cancelled before it runs: `second` must get it
        await asyncio.sleep(0)
        await second
        assert first.cancelled()
        assert queue.in_use == 1 and queue.waiting == 0
        queue.release()
        assert queue.in_use == 0

    run(scenario)
