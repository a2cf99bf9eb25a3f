"""Readers for weight-file formats other than safetensors (headers only, fed from HTTP range reads)."""
