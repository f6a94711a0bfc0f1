"""One exception type for everything a user can get wrong.

The entry points catch :class:`LnraError` and print its message as a single line, so a wrong path or
an inconsistent label file reads as an instruction, not as a stack trace.
"""


class LnraError(Exception):
    """A problem with the user's input or configuration, explained in one actionable line."""
