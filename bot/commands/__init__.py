"""The commands, a module each; each registers its own in ``bot.grammar.REGISTRY`` when imported
(:mod:`bot.core` imports them all)."""
