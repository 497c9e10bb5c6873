"""ReadAhead: an iterator run in a background thread, a bounded number of chunks ahead."""

import threading
from collections.abc import Iterator

import pytest

from meter_readings.services.read_ahead import ReadAhead


class TestIteration:
    def test_yields_every_item_in_order_across_chunks(self) -> None:
        with ReadAhead(range(1000), chunk_size=7, depth=3) as items:
            assert list(items) == list(range(1000))

    def test_an_empty_iterator_yields_nothing(self) -> None:
        with ReadAhead(iter(()), chunk_size=5) as items:
            assert list(items) == []

    def test_position_is_the_checkpoint_taken_after_the_chunk_being_consumed(self) -> None:
        consumed: list[int] = []

        def numbers() -> Iterator[int]:
            for number in range(10):
                consumed.append(number)
                yield number

        seen = []
        with ReadAhead(numbers(), checkpoint=lambda: len(consumed), chunk_size=4) as items:
            for item in items:
                seen.append((item, items.position))
        assert seen == [(n, min(4 * (n // 4 + 1), 10)) for n in range(10)]


class TestFailures:
    def test_an_exception_in_the_iterator_is_raised_in_the_consumer(self) -> None:
        def failing() -> Iterator[int]:
            yield 1
            yield 2
            raise ValueError("line 3 broke the parser")

        received = []
        with pytest.raises(ValueError, match="line 3 broke the parser"):
            with ReadAhead(failing(), chunk_size=1) as items:
                for item in items:
                    received.append(item)
        assert received == [1, 2]

    def test_leaving_early_stops_the_thread_and_closes_the_iterator(self) -> None:
        closed = threading.Event()

        def endless() -> Iterator[int]:
            try:
                number = 0
                while True:
                    number += 1
                    yield number
            finally:
                closed.set()

        before = threading.active_count()
        with ReadAhead(endless(), chunk_size=10, depth=2) as items:
            for item in items:
                if item == 25:
                    break
        assert closed.wait(5)
        assert threading.active_count() == before
