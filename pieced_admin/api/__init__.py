"""Machine-facing endpoints: health, usage ingestion, backfill."""
