"""Receiving a file offered for import: the rules every interface shares, in one place.

An upload (the admin's import page, the API) or a path (the command line, the inbox)
comes with options: strict, dry run, in the background. ``receive_upload`` and
``receive_path`` check them and hand the file to the import, or to a worker:

* an upload may be at most ``D0010_MAX_UPLOAD_BYTES``; a request that declares more
  (with ``MULTIPART_OVERHEAD_BYTES`` of envelope per file) is refused before its body is
  read (``refuse_oversized_request``). Files read from a path have no limit: they are
  streamed from disk;
* a file is recorded under its own name, without any folder, at most 255 characters
  (its end, which carries the date and sequence in most naming schemes);
* a dry run is answered at once, so it cannot go to a worker.

What is refused is a ``FileRefused`` (each kind named below); interfaces translate it (a
413 or 400, a form error, exit status 2). An import that fails unexpectedly raises
``UnableToImportFlowFile`` as ``import_flow_file`` does.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath

from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone

from meter_readings.models import FlowFile
from meter_readings.services.flow_file_import import ImportProgress, ImportReport, import_flow_file
from meter_readings.services.queueing import queue_import

# Room for the multipart envelope (boundaries, part headers) around one file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
MAX_NAME_LENGTH = 255


class FileRefused(Exception):
    """The file was not taken, for the reason given (nothing is recorded)."""


class UploadTooLarge(FileRefused):
    """An upload, or a request, larger than the upload limit."""


class DryRunCannotBeQueued(FileRefused):
    """A dry run is answered at once: it cannot be sent to a worker."""


class FileUnreadable(FileRefused):
    """A path that cannot be opened or read."""


@dataclass(frozen=True)
class ImportOptions:
    """How to import: refuse on any error, store nothing, or leave it to a worker.

    Raises ``DryRunCannotBeQueued`` for a dry run in the background.
    """

    strict: bool = False
    dry_run: bool = False
    background: bool = False

    def __post_init__(self) -> None:
        if self.dry_run and self.background:
            raise DryRunCannotBeQueued("a dry run is answered at once: it cannot be queued")


@dataclass(frozen=True)
class Received:
    """What became of a file: its import's report, or its queued record."""

    filename: str
    report: ImportReport | None = None
    queued: FlowFile | None = None


def upload_limit() -> int:
    """The most bytes one uploaded file may have."""
    return int(settings.D0010_MAX_UPLOAD_BYTES)


def refuse_oversized_request(*, declared_bytes: int, files: int = 1) -> None:
    """Refuse, before reading it, a request that declares more than ``files`` uploads' worth.

    Raises ``UploadTooLarge``.
    """
    most = (upload_limit() + MULTIPART_OVERHEAD_BYTES) * files
    if declared_bytes <= most:
        return
    if files == 1:
        raise UploadTooLarge(
            f"the file is larger than the upload limit of {upload_limit():,} bytes"
        )
    raise UploadTooLarge(
        f"the upload is larger than {most:,} bytes in all ({files} files of at most "
        f"{upload_limit():,} bytes each): send fewer or smaller files"
    )


def stored_name(name: str) -> str:
    """The name a file is recorded under: its own name, no folder, at most 255 characters."""
    return PurePath(name.replace("\\", "/")).name[-MAX_NAME_LENGTH:] or "unnamed"


def receive_upload(
    *,
    upload: UploadedFile,
    options: ImportOptions,
    on_progress: Callable[[ImportProgress], None] | None = None,
) -> Received:
    """Import (or queue) an uploaded file. Raises ``UploadTooLarge``."""
    filename = stored_name(upload.name or "")
    if (upload.size or 0) > upload_limit():
        raise UploadTooLarge(
            f"the file is larger than the upload limit of {upload_limit():,} bytes: {filename}"
        )
    return _receive(upload, filename, options, on_progress)


def receive_path(
    *,
    path: Path,
    options: ImportOptions,
    on_progress: Callable[[ImportProgress], None] | None = None,
) -> Received:
    """Import (or queue) the file at ``path``. Raises ``FileUnreadable``."""
    try:
        with path.open("rb") as stream:
            return _receive(
                File(stream, name=path.name), stored_name(path.name), options, on_progress
            )
    except OSError as problem:
        raise FileUnreadable(f"cannot read the file ({problem.strerror or problem})") from problem


def _receive(
    upload: File,
    filename: str,
    options: ImportOptions,
    on_progress: Callable[[ImportProgress], None] | None,
) -> Received:
    if options.background:
        flow_file = queue_import(upload=upload, filename=filename, strict=options.strict)
        flow_file.refresh_from_db()
        return Received(filename=filename, queued=flow_file)
    report = import_flow_file(
        stream=upload,
        filename=filename,
        received_at=timezone.now(),
        strict=options.strict,
        dry_run=options.dry_run,
        on_progress=on_progress,
    )
    return Received(filename=filename, report=report)
