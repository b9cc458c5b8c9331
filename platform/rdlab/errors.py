"""The one error type users see for bad input: it names the field and what is allowed."""

from __future__ import annotations


class SpecError(Exception):
    """Invalid user input. The CLI prints ``error: <field>: <message>`` and exits 2."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class DataNotFoundError(SpecError):
    """A dataset's files are not under the configured root. Never triggers a download."""
