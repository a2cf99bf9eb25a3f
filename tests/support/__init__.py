"""Helpers shared by the test files (importable as ``support.*``: pytest puts tests/ on sys.path).

- ``support.paths``: where the committed fixtures are, and loaders that fail (never skip) when one is missing;
- ``support.fakehub_samples``, ``support.scan_samples``: small repos written in the fixture layout;
- ``support.mockhttp``: respx-style routes over httpx2's ``MockTransport`` (``mock_http()``);
- ``support.minihub``: the fetch tests' in-memory Hub (served through those routes) and safetensors builders;
- ``support.theory_configs``: the configs quoted in docs/theory.md section 6 (fixtures/theory/).
"""
