"""Typed errors. Every failure hubmem knows about is one of these, with a stable ``kind``,
a distinct CLI exit code and a one-line hint; none of them should ever surface as a traceback.

The classes form one tree under :class:`HubmemError`: a subclass refines its parent's meaning and shares
its ``kind`` unless it needs its own (``EntryNotFoundError`` is a ``not_found``, ``RateLimitedError`` a
``NetworkError`` with its own kind). Errors that exist only at the service's HTTP layer hang under
:class:`ServiceError`.

Where huggingface_hub already has the concept and its class can be built without an httpx2
response, hubmem's class also inherits from it (``except huggingface_hub.errors.X`` keeps working).
"""

from __future__ import annotations

from typing import Any, ClassVar

from huggingface_hub.errors import HFValidationError, NotASafetensorsRepoError, SafetensorsParsingError


class HubmemError(Exception):
    """Base class of every hubmem error."""

    kind: ClassVar[str] = "error"
    exit_code: ClassVar[int] = 1
    default_hint: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        repo_id: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.repo_id = repo_id
        self.status = status
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description (used by scan rows and the service)."""
        out: dict[str, object] = {"kind": self.kind, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        if self.repo_id:
            out["repo_id"] = self.repo_id
        if self.status is not None:
            out["status"] = self.status
        return out


class InvalidRepoIdError(HubmemError, HFValidationError):
    kind = "invalid_repo_id"
    exit_code = 2
    default_hint = "A repo id is 'name' or 'namespace/name' of letters, digits, '-', '_' and '.'."


class RepoNotFoundError(HubmemError):
    kind = "not_found"
    exit_code = 3
    default_hint = "Check the spelling; a private repo also looks missing without a token that can read it."


class EntryNotFoundError(RepoNotFoundError):
    """A file the snapshot needs is not in the repo at the resolved commit (kind ``not_found``)."""

    default_hint = "The file is not in the repo at this revision; the repo may be incomplete or mid-upload."


class DisabledRepoError(RepoNotFoundError):
    """The Hub disabled the repo (403 "Access to this resource is disabled."; kind ``not_found``)."""

    default_hint = "The repo was disabled by its owner or by Hugging Face; its files cannot be read."


class GatedRepoError(HubmemError):
    kind = "gated"
    exit_code = 4
    default_hint = (
        "This repo is gated: accept its terms on the model page, then pass a token "
        "(--token, HF_TOKEN, or `hf auth login`)."
    )


class UnauthorizedError(HubmemError):
    kind = "unauthorized"
    exit_code = 5
    default_hint = "The token was refused: check HF_TOKEN / --token, or log in again."


class RevisionNotFoundError(HubmemError):
    kind = "revision_not_found"
    exit_code = 6
    default_hint = "Use a branch, a tag, a 40-hex commit sha or refs/pr/N that exists in the repo."


class NoSafetensorsError(HubmemError, NotASafetensorsRepoError):
    kind = "no_safetensors"
    exit_code = 7
    default_hint = (
        "hubmem reads safetensors headers only; try --subfolder if the weights live below the root."
    )


class CorruptHeaderError(HubmemError, SafetensorsParsingError):
    kind = "corrupt_header"
    exit_code = 8
    default_hint = "The safetensors header is not valid; the file may be truncated or not safetensors at all."


class NetworkError(HubmemError):
    kind = "network"
    exit_code = 9
    default_hint = "Check the connection and HF_ENDPOINT; hubmem retried with backoff before giving up."


class RateLimitedError(NetworkError):
    kind = "rate_limited"
    exit_code = 10
    default_hint = "The Hub rate limit was reached; pass a token (higher quota) or retry later."


class ConfigError(HubmemError):
    kind = "bad_config"
    exit_code = 11
    default_hint = "config.json is missing or not a JSON object; exact weights need only the headers."


class OfflineError(HubmemError):
    kind = "offline"
    exit_code = 12
    default_hint = "Not in the local Hugging Face cache; run once online or download the repo first."


class UsageError(HubmemError):
    """Options that do not go together (``--tp 2`` on one GPU, ZeRO and FSDP at once), a port in use."""

    kind = "usage"
    exit_code = 2
    default_hint = "See `hubmem COMMAND --help` for the options and what they need."


class OutputExistsError(HubmemError):
    """``hubmem scan``: the output file is not empty (or another scan holds its lock)."""

    kind = "output_exists"
    exit_code = 2
    default_hint = "Pass --resume to continue that scan, or --overwrite to start again."


class CatalogError(HubmemError):
    """The catalog database (``hubmem scan --db``, ``hubmem catalog``): cannot be opened, has another schema,
    or a ``--sql`` query failed, was not read-only, or ran past its time."""

    kind = "catalog"
    exit_code = 13
    default_hint = "Check --db (a SQLite file or a postgresql:// URL) and, for --sql, the query."


# -- errors of the service's HTTP layer only -------------------------------------------------------------


class BadOptionError(UsageError, ValueError):
    """An option value that does not mean anything here (``--gpu-memory-utilization 90``, an unknown vLLM
    version) or does not apply to this repo, model or engine (a GGUF file the repo does not have, a KV cache
    type the engine lacks): kind ``bad_option``, exit code 2 like a click usage error; a ValueError too, so
    generic option validation handlers (the service's 422) catch it."""

    kind = "bad_option"
    exit_code = 2


class ServiceError(HubmemError):
    """Errors that only exist at the HTTP layer."""


class InvalidRequestError(ServiceError):
    kind = "invalid_request"
    default_hint = "See GET /openapi.json for the parameters each route accepts."


class InvalidOptionsError(ServiceError):
    kind = "invalid_options"
    default_hint = "See GET /openapi.json for the accepted values."

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.errors = errors or []

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        if self.errors:
            out["errors"] = self.errors
        return out


class PayloadTooLargeError(ServiceError):
    kind = "payload_too_large"


class RequestTimeoutError(ServiceError):
    kind = "request_timeout"
    default_hint = "Send the whole request (headers and body) at once."


class WorkTooLargeError(ServiceError):
    """A report whose build would exceed the service's per-request budget (tensors, header bytes)."""

    kind = "too_large"
    default_hint = "Run `hubmem ORG/NAME` locally for this repo; the CLI has no per-request budget."


class UpstreamTimeoutError(ServiceError):
    kind = "upstream_timeout"
    default_hint = "The Hub did not answer in time; retry later."


class NotImplementedYetError(ServiceError):
    kind = "not_implemented"


class InternalError(ServiceError):
    kind = "internal"
    default_hint = "An unexpected server error; it has been logged."


ALL_ERRORS: tuple[type[HubmemError], ...] = (
    InvalidRepoIdError,
    RepoNotFoundError,
    GatedRepoError,
    UnauthorizedError,
    RevisionNotFoundError,
    NoSafetensorsError,
    CorruptHeaderError,
    NetworkError,
    RateLimitedError,
    ConfigError,
    OfflineError,
)
