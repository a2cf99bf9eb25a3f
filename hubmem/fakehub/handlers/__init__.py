"""Request handlers of the fake Hub's two origins (API routes, file resolution, CDN) and their shared
HTTP pieces."""
