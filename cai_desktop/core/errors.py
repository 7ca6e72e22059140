"""Errors that carry a message meant for the user (one clear line, no traceback)."""


class CaiError(Exception):
    """Base class: the message says what is wrong and how to fix it."""


class ValidationError(CaiError):
    """Input that breaks a rule (a constitution, a setting, a file)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = problems or [message]
        super().__init__(message)


class FormatError(CaiError):
    """A file that cannot be read in the format asked for."""


class ProjectError(CaiError):
    """A project file that cannot be opened or used."""


class RunInUse(ProjectError):
    """A run another live process (or this one) is running: it is not started a second time."""

    def __init__(self, message: str, run_id: int, pid: int | None = None, host: str | None = None):
        self.run_id, self.pid, self.host = run_id, pid, host
        super().__init__(message)


class ModelError(CaiError):
    """A model that cannot be found or loaded."""


class Cancelled(CaiError):
    """A job stopped because the user asked it to."""
