"""The one error `grok eval` reports as a single line: bad input, not a bug."""


class EvalError(Exception):
    """Something the user can fix (data, options, server features); the message says what."""
