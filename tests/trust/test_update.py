"""`provenance trust update` against a real HTTP server on 127.0.0.1: sound lists are written, all four files
together; anything doubtful (stale, truncated, malformed, PEM and JSON disagreeing...) is refused and nothing
is written."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from provenance.errors import TrustListError, UsageError
from provenance.keys.pki import DevPki
from provenance.trust.lists import LIST_FILES, MAX_LIST_BYTES, fetched_dir, lists_in_force
from provenance.trust.update import base_url, check_schema, update
from tests.support.cli import run_cli
from tests.support.trustlists import LATER, ListFiles, ListServer, certificates, list_files, list_server

SIGNER_PEM, SIGNER_JSON = LIST_FILES["signers"]
TSA_PEM, TSA_JSON = LIST_FILES["tsa"]


@pytest.fixture(scope="module")
def server() -> Iterator[ListServer]:
    with list_server() as running:
        yield running


def good(pki: DevPki, **dates: object) -> ListFiles:
    return list_files({"Test Entity": certificates(pki.root_ca)}, {"Test TSA": certificates(pki.root_ca)}, **dates)


def edited(files: ListFiles, name: str, change: Callable[[dict], None]) -> ListFiles:  # type: ignore[type-arg]
    document = json.loads(files.files[name])
    change(document)
    files.files[name] = json.dumps(document).encode()
    return files


def test_sound_lists_are_written_all_four(server: ListServer, pki: DevPki) -> None:
    server.serve(good(pki))
    result = update(server.url)
    assert result.written and result.folder == fetched_dir()
    assert sorted(p.name for p in fetched_dir().iterdir()) == sorted([SIGNER_PEM, SIGNER_JSON, TSA_PEM, TSA_JSON])
    assert [u.newer for u in result.lists] == [True, True]
    assert result.lists[0].previous.source == "bundled" and result.lists[0].fetched.issued == LATER
    in_force = lists_in_force()
    assert (in_force.signers.source, in_force.signers.issued, in_force.tsa.source) == ("fetched", LATER, "fetched")
    # The same lists again: up to date, nothing written.
    before = {p.name: p.stat().st_mtime_ns for p in fetched_dir().iterdir()}
    again = update(server.url)
    assert not again.written and [u.newer for u in again.lists] == [False, False]
    assert {p.name: p.stat().st_mtime_ns for p in fetched_dir().iterdir()} == before


def refused(server: ListServer, files: ListFiles, message: str) -> None:
    """`files` served, update refuses with `message` and writes nothing."""
    server.serve(files)
    with pytest.raises(TrustListError, match=message):
        update(server.url)
    assert not fetched_dir().exists()


def _drop_entity_name(document: dict) -> None:  # type: ignore[type-arg]
    del document["LoTE"]["TrustedEntitiesList"][0]["TrustedEntityInformation"]["TEName"]


def _bad_status(document: dict) -> None:  # type: ignore[type-arg]
    entity = document["LoTE"]["TrustedEntitiesList"][0]
    entity["TrustedEntityServices"][0]["ServiceInformation"]["ServiceStatus"] = "http://example.com/granted"


def _string_sequence(document: dict) -> None:  # type: ignore[type-arg]
    document["LoTE"]["ListAndSchemeInformation"]["LoTESequenceNumber"] = "2"


@pytest.mark.parametrize("change, message", [
    (_drop_entity_name, "fails the LoTE schema at LoTE/TrustedEntitiesList/0/TrustedEntityInformation"),
    (_bad_status, "fails the LoTE schema at .*ServiceStatus"),
    (_string_sequence, "fails the LoTE schema at LoTE/ListAndSchemeInformation/LoTESequenceNumber"),
])
def test_malformed_lists_are_refused(server: ListServer, pki: DevPki, change: Callable[[dict], None],  # type: ignore[type-arg]
                                     message: str) -> None:
    refused(server, edited(good(pki), SIGNER_JSON, change), message)


def test_a_list_older_than_the_one_in_force_is_refused(server: ListServer, pki: DevPki) -> None:
    stale = good(pki, issued=dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc))
    refused(server, stale, r"issued on 2026-03-01, before the one in force \(bundled, issued 2026-08-05\)")


def test_a_lower_sequence_number_is_refused(server: ListServer, pki: DevPki) -> None:
    server.serve(good(pki, sequence=5))
    assert update(server.url).written
    written = {p.name: p.read_bytes() for p in fetched_dir().iterdir()}
    server.serve(good(pki, sequence=4, issued=LATER + dt.timedelta(days=1)))
    with pytest.raises(TrustListError, match="sequence number 4 is lower than the one in force"):
        update(server.url)
    assert {p.name: p.read_bytes() for p in fetched_dir().iterdir()} == written  # the lists in force stay


def test_truncated_files_are_refused(server: ListServer, pki: DevPki) -> None:
    files = good(pki)
    files.files[SIGNER_JSON] = files.files[SIGNER_JSON][:200]
    refused(server, files, "is not JSON")
    files = good(pki)
    files.files[TSA_PEM] = files.files[TSA_PEM][: len(files.files[TSA_PEM]) // 2]
    refused(server, files, "PEM file holds no readable certificates")


def test_pem_and_json_that_disagree_are_refused(server: ListServer, pki: DevPki, other_pki: DevPki) -> None:
    files = good(pki)
    files.files[SIGNER_PEM] = other_pki.root_ca.read_bytes()
    refused(server, files, "do not list the same certificates")


def test_a_list_without_certificates_is_refused(server: ListServer, pki: DevPki) -> None:
    files = edited(good(pki), SIGNER_JSON, lambda d: d["LoTE"].update(TrustedEntitiesList=[]))
    refused(server, files, "fails the LoTE schema at LoTE/TrustedEntitiesList")


def test_the_wrong_list_is_refused(server: ListServer, pki: DevPki) -> None:
    files = good(pki)
    files.files[SIGNER_PEM], files.files[SIGNER_JSON] = files.files[TSA_PEM], files.files[TSA_JSON]
    refused(server, files, "it is the 'C2PA TSA Trust List', not the 'C2PA Trust List'")


def test_a_list_dated_in_the_future_is_refused(server: ListServer, pki: DevPki) -> None:
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)
    refused(server, good(pki, issued=future), "in the future")


def test_missing_and_oversized_files_are_refused(server: ListServer, pki: DevPki) -> None:
    files = good(pki)
    del files.files[TSA_JSON]
    refused(server, files, "answered HTTP 404")
    files = good(pki)
    files.files[SIGNER_PEM] = b"x" * (MAX_LIST_BYTES + 1)
    refused(server, files, "over the limit")


def test_a_damaged_fetched_copy_does_not_block_the_update(server: ListServer, pki: DevPki) -> None:
    fetched_dir().mkdir(parents=True)
    (fetched_dir() / SIGNER_JSON).write_text("{")
    server.serve(good(pki))
    assert update(server.url).written
    assert lists_in_force().signers.source == "fetched"


def test_base_url_is_https_or_this_machine() -> None:
    assert base_url("https://example.org/lists") == "https://example.org/lists/"
    assert base_url("http://127.0.0.1:8000/x/") == "http://127.0.0.1:8000/x/"
    assert base_url("http://localhost/x") == "http://localhost/x/"
    for bad in ("http://example.org/lists/", "ftp://example.org/", "file:///etc/", "https:///nohost", "lists/",
                "https://example.org/?q=1"):
        with pytest.raises(UsageError):
            base_url(bad)


def test_the_bundled_lists_pass_the_schemas() -> None:
    from provenance.trust.lists import BUNDLED_DIR

    for name in (SIGNER_JSON, TSA_JSON):
        check_schema((BUNDLED_DIR / name).read_bytes())
    with pytest.raises(TrustListError, match="nested too deeply|not JSON"):
        check_schema(b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.slow
def test_trust_update_cli(server: ListServer, pki: DevPki, signed_clip: Path) -> None:
    server.serve(good(pki))
    result = run_cli("trust", "update", "--url", server.url)
    assert result.code == 0, result.stderr
    assert "C2PA Trust List: issued 2026-09-01 (sequence 2), replacing the bundled list of 2026-08-05" in result.stdout
    assert f"written to {fetched_dir()}" in result.stdout
    verified = run_cli("verify", signed_clip)
    assert verified.code == 0 and "TRUSTED" in verified.stdout and "(fetched)" in verified.stdout
    up_to_date = run_cli("trust", "update", env={"PROVENANCE_TRUST_URL": server.url})
    assert up_to_date.code == 0 and "nothing written" in up_to_date.stdout
    server.serve(good(pki, issued=dt.datetime(2026, 8, 20, tzinfo=dt.timezone.utc)))
    stale = run_cli("trust", "update", "--url", server.url)
    assert stale.code == 1 and "Traceback" not in stale.stderr and len(stale.stderr.strip().splitlines()) == 1
    assert "refused" in stale.stderr and "before the one in force (fetched, issued 2026-09-01)" in stale.stderr
    insecure = run_cli("trust", "update", "--url", "http://example.org/")
    assert insecure.code == 2 and "is not an https URL" in insecure.stderr
