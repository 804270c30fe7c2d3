"""The one exception type for user mistakes.

The CLI prints a FacejaxError's message (no traceback) and exits with status 2. Raise it for anything
a user can fix: a wrong path, a missing split, a corrupt image, a config value out of range, a
checkpoint that does not fit the config. Let genuine bugs raise ordinary exceptions.
"""


class FacejaxError(Exception):
    """A user-facing error: the message names the file or field and what was expected."""
