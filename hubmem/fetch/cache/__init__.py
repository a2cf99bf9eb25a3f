"""The on-disk header cache: entries keyed by commit (store) and their verified encoding (files)."""
