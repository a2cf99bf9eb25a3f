"""The fetch stage: a Hub repo, the local Hugging Face cache or local files ->
:class:`hubmem.snapshot.Snapshot` (config.json + safetensors headers)."""
