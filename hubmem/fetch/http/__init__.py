"""HTTP to the Hub: HubClient and its protocol (pool, retries and pauses, redirects, answers -> errors,
range reads)."""
