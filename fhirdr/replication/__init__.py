"""The AHDS replicator: cycles of $export -> $import into the standby, watermark and lease kept in blob storage."""
