"""The catalog: scan results in a database (SQLite by default, PostgreSQL for several machines), one row per
(repo, commit, options) with typed columns, queried with plain filters or read-only SQL, exported as
JSONL / CSV / Parquet."""
