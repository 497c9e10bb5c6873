import gc
import threading

import pytest

from meter_readings.services.collector_pause import automatic_collection_paused


@pytest.fixture(autouse=True)
def collector_enabled():
    gc.enable()
    yield
    gc.enable()


class TestAutomaticCollectionPaused:
    def test_it_pauses_the_collector_for_the_block_only(self):
        with automatic_collection_paused():
            assert not gc.isenabled()

        assert gc.isenabled()

    def test_it_resumes_when_the_block_fails(self):
        with pytest.raises(ValueError):
            with automatic_collection_paused():
                raise ValueError("import failed")

        assert gc.isenabled()

    def test_it_stays_paused_until_the_last_of_overlapping_imports_ends(self):
        first_in, second_done = threading.Event(), threading.Event()
        seen_after_second = []

        def first():
            with automatic_collection_paused():
                first_in.set()
                second_done.wait(5)
                seen_after_second.append(gc.isenabled())

        thread = threading.Thread(target=first)
        thread.start()
        first_in.wait(5)
        with automatic_collection_paused():
            pass
        second_done.set()
        thread.join(5)

        assert seen_after_second == [False]
        assert gc.isenabled()

    def test_a_collector_paused_before_stays_paused(self):
        gc.disable()

        with automatic_collection_paused():
            pass

        assert not gc.isenabled()
