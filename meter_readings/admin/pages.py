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
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from meter_readings import selectors
from meter_readings.admin.forms import MAX_FILES_PER_UPLOAD, FlowFileImportForm
from meter_readings.d0010.mpan import is_well_formed_core
from meter_readings.models import (
    FlowFile,
    ImportFinding,
    Meter,
    MeterPoint,
    Reading,
    SiteVisit,
)
from meter_readings.reporting import report_as_dict
from meter_readings.services import UnableToImportFlowFile, import_flow_file
from meter_readings.tasks import queue_flow_file_import

logger = logging.getLogger(__name__)
DELETE_CONFIRMATION = "DELETE EVERYTHING"
# Room for the multipart envelope around the files.
MULTIPART_OVERHEAD_BYTES = 256 * 1024


def import_page(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """Upload D0010 files and show what the import service made of each."""
    if not request.user.has_perm("meter_readings.add_flowfile"):
        raise PermissionDenied
    results: list[dict[str, Any]] = []
    limit = settings.D0010_MAX_UPLOAD_BYTES * MAX_FILES_PER_UPLOAD + MULTIPART_OVERHEAD_BYTES
    if request.method == "POST" and int(request.META.get("CONTENT_LENGTH") or 0) > limit:
        # Refuse before Django spools the body to disk.
        form = FlowFileImportForm()
        messages.error(
            request,
            f"The upload is larger than {limit:,} bytes in all; send fewer or smaller files.",
        )
    elif request.method == "POST":
        form = FlowFileImportForm(request.POST, request.FILES)
        if form.is_valid():
            results = [
                _import_upload(upload, form.cleaned_data) for upload in form.cleaned_data["files"]
            ]
            form = FlowFileImportForm(
                initial={key: form.cleaned_data[key] for key in ("dry_run", "strict", "background")}
            )
    else:
        form = FlowFileImportForm()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Import D0010 files",
        "form": form,
        "results": results,
        "max_bytes": settings.D0010_MAX_UPLOAD_BYTES,
    }
    return TemplateResponse(request, "admin/meter_readings/import.html", context)


def _import_upload(upload: Any, options: dict[str, Any]) -> dict[str, Any]:
    name = upload.name[-255:]
    if options["background"]:
        flow_file = queue_flow_file_import(upload=upload, filename=name, strict=options["strict"])
        flow_file.refresh_from_db()
        return {"filename": name, "queued": flow_file}
    try:
        report = import_flow_file(
            stream=upload,
            filename=name,
            received_at=timezone.now(),
            strict=options["strict"],
            dry_run=options["dry_run"],
        )
    except UnableToImportFlowFile as failure:
        return {"filename": name, "failure": failure.reason, "flow_file_id": failure.flow_file_id}
    summary = report_as_dict(report)
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
                    "consumption": (
                        float(point["consumption"]) if point["consumption"] is not None else None
                    ),
                    "suspect": point["reading"].reading_flag is False,
                    "superseded": point["reading"].is_superseded,
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
            with path.open("rb") as stream:
                try:
                    report = import_flow_file(
                        stream=stream, filename=path.name, received_at=timezone.now()
                    )
                    messages.info(request, f"{path.name}: {report.status.lower()}")
                except UnableToImportFlowFile as failure:
                    messages.error(request, f"{path.name}: failed: {failure.reason}")
        return HttpResponseRedirect(request.path)
    if request.method == "POST" and request.POST.get("action") == "delete_everything":
        if request.POST.get("confirmation", "").strip() != DELETE_CONFIRMATION:
            messages.error(request, f"Type {DELETE_CONFIRMATION} to confirm; nothing was deleted.")
        else:
            deleted = _delete_everything()
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


def _delete_everything() -> int:
    """Delete every imported row, children first, in one transaction."""
    deleted = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for model in (SiteVisit, Reading, ImportFinding, Meter, MeterPoint, FlowFile):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")
            deleted += max(cursor.rowcount, 0)
    logger.warning("All imported data was deleted from the admin")
    return deleted
