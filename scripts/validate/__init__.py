"""hubmem's figures against real models built by torch / transformers: ``transformers`` (parameter counts, KV
cache) and ``memory`` (measured vs projected bytes). Needs the validate extra
(``.venv/bin/pip install -e '.[validate]'``); results in scripts/VALIDATION.md."""
