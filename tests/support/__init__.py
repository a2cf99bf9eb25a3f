"""Helpers shared by the test files (importable as ``support.*``: pytest puts tests/ on sys.path).

- ``support.paths``: where the committed fixtures are, and loaders that fail (never skip) when one is missing;
- ``support.fakehub_samples``, ``support.scan_samples``: small repos written in the fixture layout;
- ``support.theory_configs``: the configs quoted in theory.md section 6 (fixtures/theory/).
"""
