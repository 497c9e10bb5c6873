"""The REST API: read-only resources, upload through the import service, CSV export."""
