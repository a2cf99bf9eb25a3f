"""Batch scans: many repos over one HubClient, rows written as each repo finishes, resumable.

* Input: repo ids one per line, optional ``@revision``; blank lines and ``#`` comments are ignored.
* Concurrency: ``concurrency`` repos in flight over ONE :class:`~hubmem.fetch.http.client.HubClient`
  (one connection pool). The client retries 408/429/5xx/dropped connections with exponential backoff
  and jitter, and a server-requested wait (``Retry-After`` / ``RateLimit ... r=0;t=N``) pauses *every*
  request of the scan (a global pause), so a rate-limited scan slows down instead of hammering the Hub.
* Output: JSONL, one :class:`~hubmem.schema.scan.ScanRow` per repo (a full report, or the error with its
  kind); optionally a CSV of :func:`~hubmem.schema.scan.summary_row`. Every line is written with one
  ``os.write`` of the whole line (and fsync per ``fsync`` policy), so killing the process at any moment
  loses at most the rows in flight; a torn last line (a kill inside a large write) is cut off on resume.
* Resume: rows already in the output are kept when they are ``ok`` and still at the commit the revision
  resolves to now (one API request each; none when the revision is a sha); failed rows are retried.
  Before the scan, the output is compacted (torn line, failed rows and superseded rows dropped, via a
  temporary file and an atomic rename), so the final file has one row per repo and revision.
"""
