"""config.startup: what a web process does once loaded."""

import gc

from config.startup import freeze_startup_objects


def test_freezing_keeps_every_object_alive_so_far_out_of_the_collections():
    assert gc.get_freeze_count() == 0
    survivor = {"made": "before the freeze"}
    try:
        freeze_startup_objects()

        frozen = gc.get_freeze_count()
        assert frozen > 0
        # A full collection no longer walks them, and objects made later are collected
        # as before.
        assert not any(obj is survivor for obj in gc.get_objects())
        later = [{"made": "after"}]
        assert any(obj is later for obj in gc.get_objects())
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
