"""The performance envelope of an import: what makes it fast without changing what it does.

Applied here and nowhere else, so a reader meets an import's speed tricks in one place:

* ``collector_paused``: Python's cyclic garbage collector paused for the whole import
  (``collector_pause``, decision record 10): its objects form no cycles, and the
  collector's walks over each batch cost a sixth of its time;
* ``parsed_ahead``: the file parsed a few thousand events ahead in a second thread, so
  parsing overlaps the database's work on each batch (``read_ahead``, decision record 6).
"""

from meter_readings.d0010 import ParseEvent, parse_stream
from meter_readings.services.collector_pause import automatic_collection_paused
from meter_readings.services.import_types import ByteStream
from meter_readings.services.read_ahead import ReadAhead

collector_paused = automatic_collection_paused


def parsed_ahead(stream: ByteStream) -> ReadAhead[ParseEvent]:
    """The file's parse events, read ahead in a second thread (a context manager)."""
    return ReadAhead(parse_stream(stream), checkpoint=stream.tell)
