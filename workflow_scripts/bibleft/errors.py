"""One exception type for bad input, so entry points can print one clear line."""


class InputError(Exception):
    """Bad user input: a config value, a data file or a model path.

    The message names the file (and line) or the config key, and the way out.
    """
