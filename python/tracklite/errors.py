"""tracklite's one exception hierarchy.

Every error raised by tracklite derives from :class:`TrackliteError` (also exported
as ``MlflowException`` for code written against MLflow). Each class carries MLflow's
``error_code`` and the HTTP status a tracking server answers with, so a server can
serialise any error without a lookup table.
"""

from __future__ import annotations

from typing import Any


class TrackliteError(Exception):
    """Base class of every tracklite error.

    Attributes:
        message: The human-readable message.
        error_code: MLflow's error code string, e.g. ``"INVALID_PARAMETER_VALUE"``.
        http_status: The HTTP status a REST server returns for this error.
    """

    error_code: str = "INTERNAL_ERROR"
    http_status: int = 500

    def __init__(self, message: str, error_code: str | None = None, **kwargs: Any) -> None:
        super().__init__(message)
        self.message = message
        if error_code is not None:
            # MLflow accepts the code positionally; keep the class's status unless known.
            self.error_code = error_code
            self.http_status = _STATUS_BY_CODE.get(error_code, self.http_status)
        self.json_kwargs = kwargs

    def serialize_as_json(self) -> str:
        """The error as MLflow's REST error body, ``{"error_code", "message"}``."""
        import json

        return json.dumps({"error_code": self.error_code, "message": self.message, **self.json_kwargs})

    def get_http_status_code(self) -> int:
        """The HTTP status a REST server answers this error with (MLflow's name)."""
        return self.http_status


class InvalidParameterValue(TrackliteError, ValueError):
    """An argument is malformed or out of MLflow's limits (bad name, too long, wrong type)."""

    error_code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class SchemaEnforcementError(InvalidParameterValue):
    """A model's input or params do not fit its signature (``PyFuncModel.predict``).

    Attributes:
        reason: What does not fit, without MLflow's echo of the whole input in ``message``.
    """

    reason: str = ""


class ResourceDoesNotExist(TrackliteError, LookupError):
    """An experiment, run, artifact or other entity was not found."""

    error_code = "RESOURCE_DOES_NOT_EXIST"
    http_status = 404


class ResourceAlreadyExists(TrackliteError):
    """An entity with that name or id already exists."""

    error_code = "RESOURCE_ALREADY_EXISTS"
    http_status = 400


class InvalidState(TrackliteError):
    """The operation does not fit the entity's state (e.g. logging to a deleted run)."""

    error_code = "INVALID_STATE"
    http_status = 400


class StoreLockedError(TrackliteError):
    """The store file stayed locked by other processes longer than the lock timeout."""

    error_code = "TEMPORARILY_UNAVAILABLE"
    http_status = 503


class StoreCorruptError(TrackliteError):
    """The store file or a durability log is unreadable or from a newer tracklite."""

    error_code = "INTERNAL_ERROR"
    http_status = 500


class PermissionDenied(TrackliteError):
    """The signed-in user may not do this (a tracking server's 403)."""

    error_code = "PERMISSION_DENIED"
    http_status = 403


class Unauthenticated(TrackliteError):
    """A tracking server wants credentials, or refused the ones given (its 401)."""

    error_code = "UNAUTHENTICATED"
    http_status = 401


class TooManyAttempts(TrackliteError):
    """Too many failed sign-ins for a user or from an address: wait, then retry (429)."""

    error_code = "RESOURCE_EXHAUSTED"
    http_status = 429


MlflowException = TrackliteError

_STATUS_BY_CODE = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "RESOURCE_ALREADY_EXISTS": 400,
    "INVALID_STATE": 400,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "TEMPORARILY_UNAVAILABLE": 503,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL_ERROR": 500,
}

__all__ = [
    "InvalidParameterValue",
    "InvalidState",
    "MlflowException",
    "PermissionDenied",
    "ResourceAlreadyExists",
    "ResourceDoesNotExist",
    "SchemaEnforcementError",
    "StoreCorruptError",
    "StoreLockedError",
    "TooManyAttempts",
    "TrackliteError",
    "Unauthenticated",
]
