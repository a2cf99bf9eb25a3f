"""Benchmarks against the fake Hub: ``repos`` (per-repo fetch cost), ``scan`` (batch scan), ``service`` (load
and faults of the service), and ``peers`` (the adapters for hf-mem and huggingface_hub they share).
Needs the bench extra (``.venv/bin/pip install -e '.[bench]'``); results in scripts/BENCHMARKS.md."""
