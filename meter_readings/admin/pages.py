"""Admin pages beyond the model lists: import, meter point history, data management.

Each is a thin view over the import service or the selectors, added to a model admin
through ``get_urls`` and wrapped in ``admin_site.admin_view``.
"""

import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from meter_readings import selectors
from meter_readings.admin.forms import MAX_FILES_PER_UPLOAD, FlowFileImportForm
from meter_readings.d0010.mpan import is_well_formed_core
from meter_readings.models import FlowFile, MeterPoint, Reading
from meter_readings.export import (
    consumption_csv_lines,
    open_exceptions_csv_lines,
    stale_reads_csv_lines,
)
from meter_readings.reporting import report_as_dict
from meter_readings.services import UnableToImportFlowFile
from meter_readings.services.receiving import (
    FileRefused,
    ImportOptions,
    UploadTooLarge,
    receive_path,
    receive_upload,
    refuse_oversized_request,
    stored_name,
    upload_limit,
)
from meter_readings.services.test_data import delete_everything

logger = logging.getLogger(__name__)
DELETE_CONFIRMATION = "DELETE EVERYTHING"


def import_page(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """Upload D0010 files and show what the import service made of each."""
    if not request.user.has_perm("meter_readings.add_flowfile"):
        raise PermissionDenied
    results: list[dict[str, Any]] = []
    form = FlowFileImportForm()
    if request.method == "POST":
        try:
            # Before Django spools the body to disk.
            refuse_oversized_request(
                declared_bytes=int(request.META.get("CONTENT_LENGTH") or 0),
                files=MAX_FILES_PER_UPLOAD,
            )
        except UploadTooLarge as refusal:
            messages.error(request, f"{str(refusal).capitalize()}.")
        else:
            form = FlowFileImportForm(request.POST, request.FILES)
            if form.is_valid():
                options = form.cleaned_data["options"]
                results = [_import_upload(upload, options) for upload in form.cleaned_data["files"]]
                form = FlowFileImportForm(
                    initial={"dry_run": options.dry_run, "strict": options.strict}
                    | {"background": options.background}
                )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Import D0010 files",
        "form": form,
        "results": results,
        "max_bytes": upload_limit(),
    }
    return TemplateResponse(request, "admin/meter_readings/import.html", context)


def _import_upload(upload: UploadedFile, options: ImportOptions) -> dict[str, Any]:
    name = stored_name(upload.name or "")
    try:
        received = receive_upload(upload=upload, options=options)
    except UnableToImportFlowFile as failure:
        return {"filename": name, "failure": failure.reason, "flow_file_id": failure.flow_file_id}
    except FileRefused as refusal:
        return {"filename": name, "failure": str(refusal), "flow_file_id": None}
    if received.queued is not None:
        return {"filename": name, "queued": received.queued}
    assert received.report is not None
    summary = report_as_dict(received.report)
    return {
        "filename": name,
        "report": summary,
        "status_label": summary["status"].replace("_", " "),
    }


def meter_point_history_page(
    model_admin: admin.ModelAdmin, request: HttpRequest, pk: int
) -> HttpResponse:
    """An MPAN's meters and registers, charted, with every reading and its source."""
    if not request.user.has_perm("meter_readings.view_reading"):
        raise PermissionDenied
    meter_point = get_object_or_404(MeterPoint, pk=pk)
    history = selectors.meter_point_history(meter_point=meter_point)
    charts = [
        {
            "id": f"register-{meter['meter'].pk}-{register['register_id']}",
            "data_id": f"register-{meter['meter'].pk}-{register['register_id']}-data",
            "title": f"{meter['meter'].serial_number} / {register['register_id']}",
            "points": [
                {
                    "at": timezone.localtime(point["reading"].read_at).strftime("%Y-%m-%d %H:%M"),
                    "value": float(point["reading"].value),
                    "per_day": (
                        round(point["advance"].per_day, 3)
                        if point["advance"] is not None and point["advance"].per_day is not None
                        else None
                    ),
                    "suspect": point["reading"].reading_flag is False,
                    "superseded": point["reading"].is_superseded,
                    "exceptions": [
                        exception.get_rule_display() for exception in point["open_exceptions"]
                    ],
                }
                for point in register["points"]
            ],
        }
        for meter in history
        for register in meter["registers"]
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"MPAN {meter_point.mpan_core}",
        "meter_point": meter_point,
        "history": history,
        "charts": charts,
    }
    return TemplateResponse(request, "admin/meter_readings/meter_point_history.html", context)


def mpan_lookup(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """Go from an MPAN typed anywhere to its history page.

    Needs the same permission as the page it leads to: otherwise its answer alone would
    tell a user who may not see meter points whether an MPAN is held.
    """
    if not request.user.has_perm("meter_readings.view_reading"):
        raise PermissionDenied
    mpan = request.GET.get("mpan", "").strip()
    meter_point = (
        MeterPoint.objects.filter(mpan_core=mpan).first() if is_well_formed_core(mpan) else None
    )
    if meter_point is None:
        messages.warning(request, f"No meter point with MPAN core {mpan!r}.")
        return HttpResponseRedirect(reverse("admin:index"))
    return HttpResponseRedirect(
        reverse("admin:meter_readings_meterpoint_history", args=[meter_point.pk])
    )


def test_data_page_enabled() -> bool:
    """The test data page exists on test systems only (DEBUG or D0010_TEST_DATA_PAGE)."""
    return settings.DEBUG or settings.D0010_TEST_DATA_PAGE


def test_data_page(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """For test systems only: load the sample files, or delete everything."""
    if not test_data_page_enabled() or not request.user.is_superuser:
        raise PermissionDenied
    if request.method == "POST" and request.POST.get("action") == "load_samples":
        sample_folder = Path(settings.BASE_DIR) / "sample_data"
        for path in sorted(sample_folder.glob("*.uff")):
            try:
                received = receive_path(path=path, options=ImportOptions())
            except (UnableToImportFlowFile, FileRefused) as failure:
                messages.error(request, f"{path.name}: failed: {failure}")
            else:
                assert received.report is not None
                messages.info(request, f"{path.name}: {received.report.status.lower()}")
        return HttpResponseRedirect(request.path)
    if request.method == "POST" and request.POST.get("action") == "delete_everything":
        if request.POST.get("confirmation", "").strip() != DELETE_CONFIRMATION:
            messages.error(request, f"Type {DELETE_CONFIRMATION} to confirm; nothing was deleted.")
        else:
            deleted = delete_everything()
            messages.warning(request, f"Deleted {deleted:,} rows.")
        return HttpResponseRedirect(request.path)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Test data",
        "confirmation": DELETE_CONFIRMATION,
        "counts": {"flow files": FlowFile.objects.count(), "readings": Reading.objects.count()},
    }
    return TemplateResponse(request, "admin/meter_readings/test_data.html", context)


def _csv_response(lines: Iterator[str], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def open_exceptions_csv(request: HttpRequest) -> HttpResponse:
    """The dashboard's open exceptions by rule and age, as CSV."""
    if not request.user.has_perm("meter_readings.view_readingexception"):
        raise PermissionDenied
    rows = selectors.open_exceptions_by_rule_and_age(now=timezone.now())
    bands = [label for _, label, _, _ in selectors.AGE_BANDS]
    return _csv_response(
        open_exceptions_csv_lines(rows=rows, bands=bands), "open-exceptions-by-rule-and-age.csv"
    )


def stale_reads_csv(request: HttpRequest) -> HttpResponse:
    """Meter points not validly and actually read for ``months`` (default from
    settings), oldest first, as CSV."""
    if not request.user.has_perm("meter_readings.view_meterpoint"):
        raise PermissionDenied
    raw = request.GET.get("months", "")
    months = int(raw) if raw.isdigit() and 1 <= int(raw) <= 240 else None
    if months is None:
        months = settings.D0010_STALE_READ_MONTHS
    if request.GET.get("never_read") == "true":
        states = selectors.stale_meter_points(now=timezone.now(), months=months, never_read=True)
        return _csv_response(stale_reads_csv_lines(states), "never-read.csv")
    states = selectors.stale_meter_points(now=timezone.now(), months=months)
    return _csv_response(stale_reads_csv_lines(states), f"stale-reads-{months}-months.csv")


def meter_point_consumption_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """A meter point's consumption between reads, as CSV."""
    if not request.user.has_perm("meter_readings.view_reading"):
        raise PermissionDenied
    meter_point = get_object_or_404(MeterPoint, pk=pk)
    registers = selectors.meter_point_consumption(meter_point=meter_point)
    return _csv_response(
        consumption_csv_lines(mpan_core=meter_point.mpan_core, registers=registers),
        f"consumption-{meter_point.mpan_core}.csv",
    )
