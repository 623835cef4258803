"""Client for any server implementing the C2PA Soft Binding Resolution API (`verify --resolver URL`)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from provenance import limits
from provenance.durability.repository import Match
from provenance.durability.repository.interface import MAX_RESULTS
from provenance.durability.softbinding import UNIT_BITS
from provenance.errors import RepositoryError

MAX_MANIFEST_STORE = limits.MAX_MANIFEST_STORE_BYTES  # larger answers are refused, as local stores are
_TIMEOUT = 30.0


def _distance_from_score(score: Any) -> int:
    """The API reports similarity 0..100; recovery recomputes the real distance from the manifest."""
    if isinstance(score, int) and 0 <= score <= 100:
        return round((1 - score / 100) * UNIT_BITS / 2)
    return UNIT_BITS // 2


class Resolver:
    """A remote manifest repository; implements the same `Lookup` interface as a local one."""

    def __init__(self, url: str, *, timeout: float = _TIMEOUT, token: str | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise RepositoryError(f"resolver URL {url!r} is not an http(s) URL",
                                  remedy="Give the resolver's base URL, e.g. http://127.0.0.1:8750")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.token = token
        # A match may name another resolver that holds the manifest (`endpoint`).
        self._endpoints: dict[str, str] = {}

    @property
    def location(self) -> str:
        """The resolver's base URL."""
        return self.url

    @property
    def result_limit(self) -> int:
        """The API's own bound on maxResults."""
        return MAX_RESULTS

    def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        import httpx

        headers = dict(kwargs.pop("headers", {}))
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=True) as client:
                return client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as e:
            raise RepositoryError(f"cannot reach resolver {self.url}: {e or type(e).__name__}") from e

    @staticmethod
    def _detail(response: Any) -> str:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = None
        return str(detail) if detail else (response.text.strip()[:200] or response.reason_phrase)

    def _failed(self, response: Any, what: str) -> RepositoryError:
        return RepositoryError(f"resolver {self.url} refused {what}: HTTP {response.status_code}: "
                               f"{self._detail(response)}")

    def match(self, alg: str, value: bytes, max_results: int = 10) -> list[Match]:
        """POST /matches/byBinding (queryByLargeBinding: no URL length limits)."""
        body = {"alg": alg, "value": base64.b64encode(value).decode("ascii")}
        response = self._request("POST", f"{self.url}/matches/byBinding",
                                 params={"maxResults": min(max_results, MAX_RESULTS)}, json=body)
        if response.status_code != 200:
            raise self._failed(response, "the soft-binding query")
        try:
            matches = response.json()["matches"]
            out = [Match(str(m["manifestId"]), _distance_from_score(m.get("similarityScore")), m.get("endpoint"))
                   for m in matches]
        except (ValueError, KeyError, TypeError) as e:
            raise RepositoryError(f"resolver {self.url} answered with an unexpected document: {e}") from e
        for m in out:
            if m.endpoint:
                self._endpoints[m.manifest_id] = m.endpoint.rstrip("/")
        return out

    def manifest_store(self, manifest_id: str) -> bytes | None:
        """GET /manifests/{id}: the whole manifest store, or None when the resolver does not have it."""
        base = self._endpoints.get(manifest_id, self.url)
        response = self._request("GET", f"{base}/manifests/{quote(manifest_id, safe='')}",
                                 params={"returnActiveManifest": "false"})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._failed(response, f"manifest {manifest_id}")
        if len(response.content) > MAX_MANIFEST_STORE:
            raise RepositoryError(f"resolver {self.url} sent a manifest store over {MAX_MANIFEST_STORE} bytes")
        content: bytes = response.content
        return content

    def supported_algorithms(self) -> dict[str, Any]:
        """The resolver's answer to GET /services/supportedAlgorithms."""
        response = self._request("GET", f"{self.url}/services/supportedAlgorithms")
        if response.status_code != 200:
            raise self._failed(response, "the algorithm list")
        algorithms: dict[str, Any] = response.json()
        return algorithms

    def submit(self, manifest_store: bytes) -> str:
        """Register a manifest store (this project's own route, bearer token required); its manifest id."""
        response = self._request("POST", f"{self.url}/manifests", content=manifest_store,
                                 headers={"Content-Type": "application/c2pa"})
        if response.status_code not in (200, 201):
            raise self._failed(response, "the manifest store")
        return str(response.json()["manifestId"])
