"""The fetch stage: Hub repo -> :class:`hubmem.snapshot.Snapshot` (config.json + safetensors headers)."""
