"""Fakes of the outside world (platform HTTP APIs) for the tests."""
