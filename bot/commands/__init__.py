"""Every command module; importing this package registers them all in ``bot.grammar.REGISTRY``."""

from bot.commands import checkin, data, help, okrs, org, reading

__all__ = ["checkin", "data", "help", "okrs", "org", "reading"]
