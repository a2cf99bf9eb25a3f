"""A faithful local fake of the Hugging Face Hub's HTTP surface (Hub origin + CDN origin), serving fixtures/.

Public API:
    FakeHub(fixtures_dir=None, *, faults=None, latency=None, seed=None, regular_redirect="mix",
            tree_page_size=1000, tree_expand_page_size=50, url_ttl=3600)
        await hub.start(host="127.0.0.1", port=0, cdn_port=0); await hub.stop(); async with FakeHub(...)
        hub.endpoint, hub.cdn_url, hub.log (RequestLog), hub.store, hub.options (mutable at runtime)
        hub.set_faults(**FaultConfig fields), hub.inject(kind, times, match=, origin=), hub.clear_faults()
    run_in_thread(fixtures_dir=None, **kwargs) -> context manager yielding a started FakeHub
    HubThread(...).start() / .stop()
    FaultConfig, RequestLog, LogEntry, RepoWriter (writes the fixture layout), default_fixtures_dir()
    READER_TOKEN / NOGATE_TOKEN: the default fixture tokens.
"""
