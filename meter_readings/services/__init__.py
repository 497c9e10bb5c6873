"""Application services: the write paths every interface shares."""

from meter_readings.services.flow_file_import import (
    FlowFileRef,
    ImportReport,
    UnableToImportFlowFile,
    import_flow_file,
)

__all__ = ["FlowFileRef", "ImportReport", "UnableToImportFlowFile", "import_flow_file"]
