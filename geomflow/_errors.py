"""The one exception type geomflow raises for bad input."""


class GeomflowError(ValueError):
    """Bad input to geomflow: the message says what was wrong and what is accepted."""
