"""Errors a person caused: each carries the one sentence they are shown."""


class UserError(Exception):
    """Bad input or a refused action. Nothing has been written when it is raised."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


class UsageError(UserError):
    """The command's words are off: the sentence names the problem and the right form."""

    def __init__(self, problem: str, usage: str) -> None:
        super().__init__(f"{problem} Use: {usage}")
        self.problem = problem
        self.usage = usage


class NotFound(UserError):
    pass


class Forbidden(UserError):
    pass
