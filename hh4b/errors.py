"""User-facing errors: the message names the file, branch or option at fault."""


class HH4bError(Exception):
    """Bad input or configuration; the CLI prints it as one line and exits with status 2."""


class InputFileError(HH4bError):
    """A file that cannot be read, lacks a branch, or is corrupted."""


class ConfigError(HH4bError):
    """An option or setting outside its allowed values."""
