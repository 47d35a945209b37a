"""Slack: slack-bolt's async app behind aiohttp at POST /slack/events."""
