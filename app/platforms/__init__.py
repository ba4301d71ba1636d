"""Likes and followers fetched from the platforms (YouTube, Instagram, Facebook Pages, TikTok)."""
