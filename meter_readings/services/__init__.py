"""Application services: the write paths every interface shares."""

from meter_readings.services.flow_file_import import (
    FlowFileRef,
    ImportProgress,
    ImportReport,
    UnableToImportFlowFile,
    import_flow_file,
)

__all__ = [
    "FlowFileRef",
    "ImportProgress",
    "ImportReport",
    "UnableToImportFlowFile",
    "import_flow_file",
]
