"""The one exception type for bad input; the CLI turns it into a one-line message."""


class InputError(ValueError):
    """Raised for malformed user input: shapes, NaN values, unknown names, bad files."""
