"""Helpers for scripts/build_fixtures.py: safetensors header synthesis, sharding, quantized layouts."""
