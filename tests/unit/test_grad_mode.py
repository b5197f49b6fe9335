"""no_grad() and enable_grad() shared by threads and tasks, as decorators of any kind of function."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Generator, Iterator

import pytest

from autograd import Value, enable_grad, is_grad_enabled, no_grad


def recorded() -> bool:
    return not (Value(1.0) * 2.0).is_leaf


def test_one_object_used_by_two_threads_at_once() -> None:
    mode = no_grad()
    both_inside = threading.Barrier(2)
    seen: dict[int, tuple[bool, bool]] = {}
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            with mode:
                both_inside.wait(timeout=5)  # both threads hold the same block open
                inside = recorded()
                both_inside.wait(timeout=5)
            seen[k] = (inside, recorded())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert seen == {0: (False, True), 1: (False, True)}
    assert recorded()  # and this thread never left recording


def test_one_decorator_used_by_two_asyncio_tasks_at_once() -> None:
    @no_grad()
    async def step(wait: asyncio.Event, other: asyncio.Event) -> bool:
        other.set()
        await wait.wait()  # the other task is inside the same decorated function now
        return recorded()

    async def main() -> tuple[list[bool], bool]:
        first, second = asyncio.Event(), asyncio.Event()
        results = await asyncio.gather(step(first, second), step(second, first))
        return list(results), recorded()

    results, after = asyncio.run(main())
    assert results == [False, False] and after
    assert recorded()


def test_a_decorated_generator_runs_its_body_without_a_graph_and_its_caller_with_one() -> None:
    @no_grad()
    def values() -> Iterator[bool]:
        yield recorded()
        yield recorded()

    seen = []
    for inside in values():
        seen.append((inside, recorded()))
    assert seen == [(False, True), (False, True)]


def test_a_decorated_generator_passes_on_send_throw_and_close() -> None:
    finished = []

    @no_grad()
    def echo() -> Iterator[object]:
        received = yield "ready"
        try:
            while True:
                received = yield (received, recorded())
        except KeyError:
            yield "caught"
        finally:
            finished.append(recorded())

    generator = echo()
    assert next(generator) == "ready"
    assert generator.send(1) == (1, False)
    assert generator.throw(KeyError("k")) == "caught"
    generator.close()
    assert finished == [False] and recorded()


def test_a_decorated_generator_returns_its_value() -> None:
    @no_grad()
    def counted() -> Generator[int, None, int]:
        yield 1
        return 7

    def outer() -> Iterator[int]:
        total = yield from counted()
        yield total

    assert list(outer()) == [1, 7]


def test_the_same_object_may_be_entered_again_while_open() -> None:
    mode = no_grad()
    with mode:
        with enable_grad():
            assert recorded()
            with mode:
                assert not recorded()
            assert recorded()
        assert not recorded()
    assert recorded() and is_grad_enabled()


def test_exit_without_enter_is_a_clear_error_and_changes_nothing() -> None:
    with pytest.raises(RuntimeError, match=r"no_grad\(\) was exited without being entered"):
        no_grad().__exit__(None, None, None)
    assert recorded()


def test_exit_in_another_thread_is_a_clear_error() -> None:
    mode = no_grad()
    mode.__enter__()
    errors: list[BaseException] = []

    def leave() -> None:
        try:
            mode.__exit__(None, None, None)
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=leave)
    thread.start()
    thread.join()
    assert len(errors) == 1 and not recorded()
    mode.__exit__(None, None, None)
    assert recorded()


def test_an_async_generator_function_cannot_be_decorated() -> None:
    async def agen() -> object:  # pragma: no cover - never run
        yield 1

    with pytest.raises(TypeError, match="cannot decorate an async generator function"):
        no_grad()(agen)


def test_a_task_made_inside_a_block_keeps_its_mode_after_the_block_closes() -> None:
    async def main() -> tuple[bool, bool]:
        with no_grad():
            started = asyncio.Event()

            async def later() -> tuple[bool, bool]:
                await started.wait()  # runs after the block below has closed
                return is_grad_enabled(), recorded()

            task = asyncio.create_task(later())
        started.set()
        return await task

    assert asyncio.run(main()) == (False, False)  # the mode it reports is the mode ops follow
    assert recorded()


def test_blocks_that_end_out_of_order_restore_the_mode_before_the_first() -> None:
    outer, inner = no_grad(), enable_grad()
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)  # ends first: the inner block still holds
    assert recorded()
    inner.__exit__(None, None, None)
    assert is_grad_enabled() and recorded()
