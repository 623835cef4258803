"""One error hierarchy for the whole library.

Every error carries a one-line ``remedy`` telling the user what to do, and renders
itself with it as one line (``one_line()``). The CLI maps the classes to exit codes.
"""

from __future__ import annotations


class ProvenanceError(Exception):
    """Base of every error the library raises on purpose."""

    remedy = "Re-run with --verbose for details."

    def __init__(self, message: str, *, remedy: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if remedy is not None:
            self.remedy = remedy

    def one_line(self) -> str:
        """What went wrong and what to do about it, as one line for people."""
        return f"{self.message} (hint: {self.remedy})"


class UsageError(ProvenanceError):
    """The caller asked for something inconsistent (exit code 2 in the CLI)."""

    remedy = "Check the command line; see --help."


class TrustConfigError(UsageError):
    """A trust anchor or pinning setting cannot be used."""

    remedy = "Give a readable PEM file with one or more CA certificates."


class TrustListError(ProvenanceError):
    """A trust list (PEM and LoTE JSON) is malformed, inconsistent or older than the one in force."""

    remedy = "Keep the lists in force; check the source with `provenance trust update --url`, or report it."


class PolicyError(UsageError):
    """A policy file is malformed or names unknown rules."""

    remedy = "Fix the policy file; see docs/ci-gate.md (the policy file)."


class OutputExistsError(UsageError):
    """An output already exists and overwriting it was not asked for."""

    remedy = "Choose another output path or pass --force."


class OutputError(UsageError):
    """A destination cannot be written: no permission, no such folder, a read-only filesystem."""

    remedy = "Choose a destination in a folder you may write to."


class OutputWriteError(ProvenanceError):
    """Writing a destination failed midway (disk full, I/O error)."""

    remedy = "Check free disk space and the destination's filesystem, then try again."


class MediaError(ProvenanceError):
    """The input cannot be read as media we can handle."""

    remedy = "Give a readable MP4, MOV, M4V, AVI, WebM or MKV file."


class CredentialError(ProvenanceError):
    """A signing certificate or key is unusable."""

    remedy = "Check --cert and --key (see `provenance keys init` for a development PKI)."


class SigningError(ProvenanceError):
    """c2pa refused or failed to sign."""

    remedy = "Re-run with --verbose; if it persists, report the c2pa message shown there."


class TimestampError(SigningError):
    """The time-stamping authority could not be reached or gave no usable timestamp."""

    remedy = "Check that --tsa-url is reachable and answers RFC 3161 requests."


class RepositoryError(ProvenanceError):
    """The manifest repository or a remote resolver failed."""

    remedy = "Check --store / --resolver and that the service is reachable."


class SoftBindingError(MediaError):
    """No content fingerprint (ISCC Video-Code) can be computed for a file."""

    remedy = "Give a file with a decodable video stream, or sign with --no-soft-binding."


class WatermarkError(MediaError):
    """A video cannot be watermarked or searched for a watermark (no video, too small, too short, undecodable)."""

    remedy = "Give a video file with a decodable video stream of at least 128×128 pixels and several frames."


def c2pa_reason(error: Exception) -> str:
    """c2pa's message without its error-kind prefix ("Other: ...", "ManifestNotFound: ...")."""
    message = str(error)
    kind, sep, rest = message.partition(": ")
    return rest if sep and kind.isalpha() else message


class LimitExceeded(MediaError):
    """An input is larger or more complex than the verifier accepts (provenance.limits)."""

    remedy = "The file is refused as hostile; if it is genuine, report it with the figures shown."
