"""The HTTP API: /api/v1 for scripts, CI jobs and dashboards."""
