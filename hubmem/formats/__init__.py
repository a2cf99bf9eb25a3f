"""Weight-file formats: safetensors and GGUF headers (read from HTTP range reads, never the weights)."""
