"""`provenance trust update`: fetch the official C2PA lists and keep them only if they are sound.

Everything fetched is attacker-controlled until proven otherwise: each list must parse, follow
the LoTE structure `provenance` reads (schemas/lote.schema.json, under the C2PA extension schema),
list at least one trusted certificate, agree between its PEM and JSON files, be the same list as
the one it replaces, and be no older than it. Only then are the four files written, all together
(provenance._internal.atomic), to the user data folder; a refusal writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provenance.errors import TrustConfigError, TrustListError, UsageError
from provenance.trust.lists import (
    LIST_FILES,
    MAX_LIST_BYTES,
    SCHEMA_DIR,
    TrustList,
    bundled_lists,
    fetched_dir,
    fetched_list,
    newer,
    parse_list,
)

DEFAULT_URL = "https://raw.githubusercontent.com/c2pa-org/conformance-public/main/trust-list/"
TIMEOUT = 30.0  # seconds, for connecting and between bytes
# Plain http only to this machine (a local mirror, the tests); anything else must be https.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# A list issued further in the future than this is refused: it would block every real update after it.
CLOCK_SKEW = dt.timedelta(days=1)
EXTENSION_SCHEMA = "c2pa-trust-list-extensions.schema.json"
LOTE_SCHEMA = "lote.schema.json"


@dataclass(frozen=True)
class ListUpdate:
    """One list before and after an update."""

    previous: TrustList  # the list in force before
    fetched: TrustList

    @property
    def newer(self) -> bool:
        """Whether the fetched list replaces the one in force (a later issue date or sequence number)."""
        return (self.fetched.issued, self.fetched.sequence) > (self.previous.issued, self.previous.sequence)


@dataclass(frozen=True)
class UpdateResult:
    """What `trust update` did: each list's before and after, and whether the files were written."""

    folder: Path
    lists: tuple[ListUpdate, ...]
    written: bool


def base_url(url: str) -> str:
    """The base URL the four files are fetched under, with its final slash; https, or http to this machine."""
    parts = urllib.parse.urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.scheme == "http" and host in LOCAL_HOSTS:
        pass
    elif parts.scheme != "https" or not host:
        raise UsageError(f"--url {url!r} is not an https URL",
                         remedy="Give an https:// URL (plain http only to 127.0.0.1 or localhost).")
    if parts.query or parts.fragment:
        raise UsageError(f"--url {url!r} has a query or fragment", remedy="Give the folder URL the lists are in.")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def download(client: Any, url: str) -> bytes:
    """The body of `url`, at most MAX_LIST_BYTES; TrustListError for any other answer."""
    import httpx

    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise TrustListError(f"{url}: the server answered HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_LIST_BYTES:
                raise TrustListError(f"{url}: {int(declared):,} bytes, over the limit of {MAX_LIST_BYTES:,}")
            body = bytearray()
            for chunk in response.iter_raw():
                body += chunk
                if len(body) > MAX_LIST_BYTES:
                    raise TrustListError(f"{url}: over the limit of {MAX_LIST_BYTES:,} bytes")
            return bytes(body)
    except httpx.HTTPError as e:
        raise TrustListError(f"{url}: cannot be fetched ({type(e).__name__}: {e})",
                             remedy="Check the network and --url, then try again.") from None


def _validator() -> Any:
    """The C2PA extension schema, its ETSI reference resolved to the LoTE structure provenance reads."""
    import jsonschema
    from referencing import Registry
    from referencing.jsonschema import DRAFT7

    extension = json.loads((SCHEMA_DIR / EXTENSION_SCHEMA).read_text(encoding="utf-8"))
    lote = json.loads((SCHEMA_DIR / LOTE_SCHEMA).read_text(encoding="utf-8"))
    registry = Registry().with_resources(
        (ref["$ref"], DRAFT7.create_resource(lote)) for ref in extension.get("allOf", []) if "$ref" in ref)
    return jsonschema.Draft7Validator(extension, registry=registry)


def check_schema(document: bytes) -> None:
    """TrustListError naming the first place where a LoTE JSON document breaks the schemas."""
    import jsonschema

    try:
        data = json.loads(document)
    except (ValueError, RecursionError) as e:
        raise TrustListError(f"the JSON file is not JSON ({type(e).__name__})") from None
    try:
        error = jsonschema.exceptions.best_match(_validator().iter_errors(data))
    except RecursionError:
        raise TrustListError("the JSON file is nested too deeply") from None
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(the document)"
        raise TrustListError(f"the JSON file fails the LoTE schema at {where}: {error.message[:200]}")


def _previous(kind: str, folder: Path) -> TrustList:
    """The list of `kind` in force now; a damaged fetched copy does not count (the update replaces it)."""
    bundled = bundled_lists().of(kind)
    try:
        return newer(bundled, fetched_list(kind, folder))
    except TrustConfigError:
        return bundled


def _judge(previous: TrustList, fetched: TrustList, now: dt.datetime) -> None:
    """Refuse a list that is not the one it replaces, is dated in the future or is older than it."""
    if fetched.name != previous.name:
        raise TrustListError(f"it is the {fetched.name!r}, not the {previous.name!r}")
    if fetched.issued > now + CLOCK_SKEW:
        raise TrustListError(f"it says it was issued on {fetched.issued:%Y-%m-%d %H:%M}, in the future")
    if fetched.issued < previous.issued:
        raise TrustListError(f"it was issued on {fetched.issued:%Y-%m-%d}, before the one in force "
                             f"({previous.source}, issued {previous.issued:%Y-%m-%d})")
    if fetched.sequence < previous.sequence:
        raise TrustListError(f"its sequence number {fetched.sequence} is lower than the one in force "
                             f"({previous.sequence})")


def update(url: str = DEFAULT_URL, *, folder: Path | None = None, timeout: float = TIMEOUT,
           now: dt.datetime | None = None) -> UpdateResult:
    """Fetch the C2PA Trust List and TSA Trust List (PEM and JSON each) under `url`, and write them to
    `folder` (default: the user data folder) when both are sound and at least one is newer than the
    list in force. Raises UsageError for a bad URL, TrustListError (nothing written) for anything refused."""
    import httpx

    from provenance import __version__
    from provenance._internal.atomic import atomic_files

    base = base_url(url)
    folder = folder or fetched_dir()
    now = now or dt.datetime.now(dt.timezone.utc)
    files: dict[str, bytes] = {}
    with httpx.Client(timeout=timeout, follow_redirects=False,
                      headers={"User-Agent": f"provenance/{__version__}"}) as client:
        for names in LIST_FILES.values():
            for name in names:
                files[name] = download(client, base + name)
    updates = []
    for kind, (pem_name, json_name) in LIST_FILES.items():
        try:
            check_schema(files[json_name])
            fetched = parse_list(files[pem_name], files[json_name], source="fetched", location=folder)
            previous = _previous(kind, folder)
            _judge(previous, fetched, now)
        except TrustListError as e:
            raise TrustListError(f"refused {base}{json_name}: {e.message}", remedy=e.remedy) from None
        updates.append(ListUpdate(previous, fetched))
    if not any(u.newer for u in updates):
        return UpdateResult(folder, tuple(updates), False)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TrustListError(f"cannot create {folder}: {e.strerror or e}",
                             remedy="Make the user data folder writable.") from e
    with atomic_files() as writer:
        for name, data in files.items():
            with writer.open(folder / name) as f:
                f.write(data)
    return UpdateResult(folder, tuple(updates), True)

