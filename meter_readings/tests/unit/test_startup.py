"""config.startup: what a web process does once loaded."""

import gc

from config.startup import freeze_startup_objects


def test_freezing_keeps_every_object_alive_so_far_out_of_the_collections():
    # Importing config.wsgi (the API schema tests do) has frozen this process already.
    before = gc.get_freeze_count()
    survivor = {"made": "before the freeze"}
    try:
        freeze_startup_objects()

        assert gc.get_freeze_count() > before
        # A collection no longer walks it, and objects made later are collected as before.
        assert not any(obj is survivor for obj in gc.get_objects())
        later = [{"made": "after"}]
        assert any(obj is later for obj in gc.get_objects())
    finally:
        if before == 0:
            gc.unfreeze()
