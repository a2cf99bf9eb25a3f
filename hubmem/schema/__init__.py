"""Pydantic models of every report and option (one schema for CLI, API and service)."""
