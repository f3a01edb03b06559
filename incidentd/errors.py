"""The exception hierarchy. Each error knows how it reaches a user: an HTTP status, a retry.

HTTP middleware and the CLI map these to responses and exit codes in one place; domain code
raises them and never catches them to log and continue.
"""

from __future__ import annotations

from datetime import datetime


class IncidentdError(Exception):
    """Base of every error incidentd raises on purpose."""


class InputError(IncidentdError):
    """The request or file can never succeed as sent: a 4xx naming the problem."""

    status = 400
    reason = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotJSON(InputError):
    status = 400
    reason = "not_json"


class WrongShape(InputError):
    """Valid JSON that is not the shape the source sends: 422 with the JSON path."""

    status = 422
    reason = "wrong_shape"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.detail = message


class Unauthorized(InputError):
    status = 401
    reason = "unauthorized"


class UnknownSource(InputError):
    status = 404
    reason = "unknown_source"


class BodyTooLarge(InputError):
    status = 413
    reason = "too_large"


class UnsupportedMediaType(InputError):
    status = 415
    reason = "unsupported_media_type"


class InvalidTransition(InputError):
    """An incident cannot make this change (a resolved incident acknowledged, automation
    changing a status a person decided): 409."""

    status = 409
    reason = "invalid_transition"


class UnknownTeam(InputError):
    """oncall.yaml has no schedule for this team."""

    status = 404
    reason = "unknown_team"


class UnknownPerson(InputError):
    """oncall.yaml has no person of this name under `people:`."""

    status = 404
    reason = "unknown_person"


class NobodyOnCall(InputError):
    """A team's schedule puts nobody on call at that time (no layers, or a gap between them);
    `next_on_call` is when somebody is, if that happens within the look-ahead."""

    status = 404
    reason = "nobody_on_call"

    def __init__(self, message: str, *, next_on_call: datetime | None = None) -> None:
        super().__init__(message)
        self.next_on_call = next_on_call


class Overloaded(IncidentdError):
    """We cannot take the work now, nothing was written: 503 with Retry-After.

    Never a 429: Alertmanager and Datadog retry only 5xx answers.
    """

    status = 503
    reason = "unavailable"

    def __init__(self, message: str, *, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class LeaseLost(IncidentdError):
    """This process no longer holds the engine's lease: its in-memory state must be dropped."""


class RulesError(IncidentdError):
    """A configuration file is invalid: `file:line: message`."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {message}")
        self.file = file
        self.line = line
        self.message = message


class TransientError(IncidentdError):
    """A failure worth retrying, after `retry_after` seconds when the other side said so."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(IncidentdError):
    """A failure that will not go away by retrying."""


class ConfigInvalid(IncidentdError):
    """A configuration directory has one or more problems; `problems` lists every one."""

    def __init__(self, problems: list[RulesError]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = tuple(problems)
