"""The one error type for bad user input, shared by every stage.

The CLI turns a UserError into one line on stderr and exit code 2; anything
else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input from the user (a value, a file, a flag). The message names the bad value."""
