"""The receiving side: gateway configs, decoding, the ingest store and the dashboard."""
