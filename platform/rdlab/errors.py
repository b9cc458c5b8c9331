"""The one error type users see for bad input: it names the field and what is allowed."""

from __future__ import annotations


class SpecError(Exception):
    """Invalid user input. The CLI prints ``error: <field>: <message>`` and exits 2."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)

    def __reduce__(self) -> tuple[type[SpecError], tuple[str, str]]:
        # Ray ships a trial's exception back to the driver pickled; the default reduce
        # would call SpecError(text) and fail, losing the field the user must see.
        return (type(self), (self.field, self.message))


class DataNotFoundError(SpecError):
    """A dataset's files are not under the configured root. Never triggers a download."""
