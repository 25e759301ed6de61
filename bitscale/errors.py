"""The one error type for bad user input, shared by every stage.

The CLI turns a UserError into one line on stderr and exit code 2; anything
else is a bug and keeps its traceback. hw/'s components (and hw/folding.validate, which they and
the cost model call) raise ValueError for values they cannot take, as Amaranth's do; where such a
value is the user's (a --folding file, a Folding given to the API), bitscale/api.py checks it
first and raises the UserError.
"""


class UserError(Exception):
    """Bad input from the user (a value, a file, a flag). The message names the bad value."""


def read_json(path, missing: str):
    """The parsed JSON file at ``path``. UserError(``missing``) when there is no such file, and one
    naming the file and the parse error when it is not JSON (binary garbage included)."""
    import json
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise UserError(missing)
    try:
        return json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{p} is not valid JSON: {e}") from None
