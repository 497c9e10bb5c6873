"""The exceptions queue: readings that failed a check, worked to resolved.

Only the workflow changes here (acknowledge, resolve with a note, reopen), through the
exception workflow service; each exception's history page lists every state it was in,
who changed it and why (django-simple-history).
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from simple_history.admin import SimpleHistoryAdmin

from meter_readings import selectors
from meter_readings.admin import pages
from meter_readings.admin.model_admins import CappedCountPaginator, admin_link
from meter_readings.models import ExceptionStatus, ReadingException
from meter_readings.services.exception_workflow import (
    MAX_NOTE_LENGTH,
    ExceptionAction,
    ExceptionChangeRefused,
    change_exceptions,
)


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, label) for key, label, _, _ in selectors.AGE_BANDS]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        try:
            after, up_to = selectors.age_band_bounds(band=self.value(), now=timezone.now())
        except KeyError:
            return queryset.none()
        queryset = queryset.filter(raised_at__lte=up_to)
        return queryset if after is None else queryset.filter(raised_at__gt=after)


class SenderFilter(admin.SimpleListFilter):
    """The senders offered are the flow files' (a field filter would read every
    exception's sender: over half a second at 2.5M exceptions, PERFORMANCE.md)."""

    title = "sender"
    parameter_name = "sender"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(sender, sender) for sender in selectors.senders()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(sender=self.value()) if self.value() else queryset


class UnresolvedByDefaultStatusFilter(admin.SimpleListFilter):
    """The queue opens on what needs work; "all" shows every state."""

    title = "status"
    parameter_name = "status"
    UNRESOLVED = "unresolved"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(self.UNRESOLVED, "Open or acknowledged"), *ExceptionStatus.choices]

    def choices(self, changelist: Any):
        yield {
            "selected": self.value() == "all",
            "query_string": changelist.get_query_string({self.parameter_name: "all"}),
            "display": "All",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": (self.value() or self.UNRESOLVED) == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value() or self.UNRESOLVED
        if value == "all":
            return queryset
        if value == self.UNRESOLVED:
            return queryset.filter(status__in=[ExceptionStatus.OPEN, ExceptionStatus.ACKNOWLEDGED])
        if value in ExceptionStatus.values:
            return queryset.filter(status=value)
        return queryset.none()


PAST_TENSE = {
    ExceptionAction.ACKNOWLEDGE: "acknowledged",
    ExceptionAction.RESOLVE: "resolved",
    ExceptionAction.REOPEN: "reopened",
}
# What a user may set on the form (auto-resolved is the checks' alone).
USER_STATUSES = {
    ExceptionStatus.OPEN: ExceptionAction.REOPEN,
    ExceptionStatus.ACKNOWLEDGED: ExceptionAction.ACKNOWLEDGE,
    ExceptionStatus.RESOLVED: ExceptionAction.RESOLVE,
}


class ResolveForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        max_length=MAX_NOTE_LENGTH,
        help_text="Why these readings need no more work (kept in each exception's history).",
    )


@admin.register(ReadingException)
class ReadingExceptionAdmin(SimpleHistoryAdmin):
    list_display = (
        "id",
        "rule",
        "reason",
        "status",
        "mpan",
        "register_id",
        "read_at",
        "sender",
        "raised_at",
        "detail",
    )
    list_filter = (
        UnresolvedByDefaultStatusFilter,
        "rule",
        "reason_code",
        SenderFilter,
        AgeFilter,
    )
    list_select_related = ("meter_point",)
    search_fields = ("=meter_point__mpan_core",)
    search_help_text = "An MPAN core, exactly."
    ordering = ("-id",)
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50
    actions = ("acknowledge", "resolve", "reopen")
    fields = (
        "rule",
        "reason_code",
        "detail",
        "status",
        "note",
        "meter_point_link",
        "reading_link",
        "register_id",
        "read_at",
        "sender",
        "raised_at",
        "status_changed_at",
    )
    # Everything but the workflow is what the checks found: never edited here.
    readonly_fields = tuple(name for name in fields if name not in ("status", "note"))
    history_list_display = ("status", "note")

    def get_urls(self) -> list:
        return [
            path(
                "open-by-rule-and-age.csv",
                self.admin_site.admin_view(pages.open_exceptions_csv),
                name="meter_readings_readingexception_report_csv",
            ),
            *super().get_urls(),
        ]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def action_checkbox(self, obj: ReadingException) -> str:
        """Django's checkbox for the actions, written out: its widget renders a template
        for each row, a fifth of this list's time (PERFORMANCE.md, "A national book").
        A test holds it to the widget's HTML."""
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            format_html(_("Select this object for an action - {}"), str(obj)),
        )

    @admin.display(description="J0332", ordering="reason_code")
    def reason(self, obj: ReadingException) -> str:
        if not obj.reason_code:
            return "-"
        return format_html(
            '<abbr title="{}">{}</abbr>', obj.get_reason_code_display(), obj.reason_code
        )

    @admin.display(description="MPAN", ordering="meter_point__mpan_core")
    def mpan(self, obj: ReadingException) -> str:
        url = reverse("admin:meter_readings_meterpoint_history", args=[obj.meter_point_id])
        return format_html(
            '<a href="{}#exception-{}">{}</a>', url, obj.pk, obj.meter_point.mpan_core
        )

    @admin.display(description="meter point")
    def meter_point_link(self, obj: ReadingException) -> str:
        return self.mpan(obj)

    @admin.display(description="reading")
    def reading_link(self, obj: ReadingException) -> str:
        return admin_link(obj.reading)

    def save_model(self, request: HttpRequest, obj: ReadingException, form: Any, change: bool):
        """A change on the form is one of the workflow's actions, through its service."""
        action = USER_STATUSES.get(form.cleaned_data.get("status"))
        if action is None or "status" not in form.changed_data:
            messages.warning(request, "The status did not change: nothing was saved.")
            return
        try:
            change_exceptions(
                exceptions=ReadingException.objects.filter(pk=obj.pk),
                action=action,
                note=form.cleaned_data.get("note", ""),
                user=request.user,
                now=timezone.now(),
            )
        except ExceptionChangeRefused as refusal:
            messages.error(request, str(refusal))

    def formfield_for_choice_field(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        if db_field.name == "status":
            kwargs["choices"] = [
                (value, label)
                for value, label in ExceptionStatus.choices
                if value in USER_STATUSES or value == ExceptionStatus.AUTO_RESOLVED
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def _act(self, request: HttpRequest, queryset: QuerySet, action: ExceptionAction, note=""):
        changed, skipped = change_exceptions(
            exceptions=queryset, action=action, note=note, user=request.user, now=timezone.now()
        )
        done = PAST_TENSE[action]
        message = f"{changed} exception(s) {done}."
        if skipped:
            message += f" {skipped} skipped: already {done}, or in a state that cannot be."
        messages.info(request, message)

    @admin.action(description="Acknowledge the selected exceptions", permissions=["change"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._act(request, queryset, ExceptionAction.ACKNOWLEDGE)

    @admin.action(description="Reopen the selected exceptions", permissions=["change"])
    def reopen(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._act(request, queryset, ExceptionAction.REOPEN)

    @admin.action(
        description="Resolve the selected exceptions, with a note", permissions=["change"]
    )
    def resolve(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if "apply" in request.POST:
            form = ResolveForm(request.POST)
            if form.is_valid():
                self._act(request, queryset, ExceptionAction.RESOLVE, form.cleaned_data["note"])
                return HttpResponseRedirect(request.get_full_path())
        else:
            form = ResolveForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Resolve exceptions",
            "form": form,
            "exceptions": queryset.select_related("meter_point")[:100],
            "count": queryset.count(),
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "admin/meter_readings/resolve_exceptions.html", context)
