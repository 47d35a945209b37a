"""Microsoft Teams: botbuilder's CloudAdapter behind aiohttp at POST /api/messages."""
