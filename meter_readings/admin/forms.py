"""The import page's form: one or several D0010 files and how to import them."""

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from meter_readings.services.receiving import DryRunCannotBeQueued, ImportOptions, upload_limit

MAX_FILES_PER_UPLOAD = 20


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field that takes several files (Django's documented pattern)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class FlowFileImportForm(forms.Form):
    files = MultipleFileField(label="D0010 files", help_text="One or several flow files.")
    dry_run = forms.BooleanField(
        required=False, label="Dry run", help_text="Check and report; store nothing."
    )
    strict = forms.BooleanField(
        required=False, label="Strict", help_text="Refuse a file with any error."
    )
    background = forms.BooleanField(
        required=False,
        label="In the background",
        help_text="Queue the import for a worker and come back to the flow file later.",
    )

    def clean_files(self) -> list[UploadedFile]:
        files = self.cleaned_data["files"]
        limit = upload_limit()
        if len(files) > MAX_FILES_PER_UPLOAD:
            raise forms.ValidationError(f"At most {MAX_FILES_PER_UPLOAD} files at a time.")
        too_large = [upload.name for upload in files if upload.size > limit]
        if too_large:
            raise forms.ValidationError(
                f"Larger than the upload limit of {limit:,} bytes: {', '.join(too_large)}."
            )
        return files

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        try:
            cleaned["options"] = ImportOptions(
                strict=bool(cleaned.get("strict")),
                dry_run=bool(cleaned.get("dry_run")),
                background=bool(cleaned.get("background")),
            )
        except DryRunCannotBeQueued as refusal:
            raise forms.ValidationError(f"{str(refusal).capitalize()}: untick one of them.")
        return cleaned
