"""Every command module; importing this package registers them all in ``bot.grammar.REGISTRY``."""

from bot.commands import alignment, checkin, data, help, okrs, org, reading, schedule

__all__ = ["alignment", "checkin", "data", "help", "okrs", "org", "reading", "schedule"]
