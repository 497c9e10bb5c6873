"""What a web process does once it has loaded the application, before its first request."""

import gc

from django.urls import get_resolver


def freeze_startup_objects() -> None:
    """Load every view module, then keep what is alive from the garbage collector's passes.

    A web process holds some 100,000 objects from loading Django, the admin, the API and
    their modules, alive until it exits. Python's oldest-generation collection walks
    every one of them, and one falls inside a request every few dozen, adding tens of
    milliseconds to it: the slowest requests of a page (PERFORMANCE.md, "A national
    book"). ``gc.freeze`` moves them into a generation no collection walks; objects made
    later are collected as before.
    """
    # The URL configuration imports every view module (and so the serializers, forms
    # and admin classes they use): loaded now rather than on the first request.
    get_resolver().url_patterns
    gc.collect()
    gc.freeze()
