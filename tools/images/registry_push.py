"""Pushes an image tarball (tools/images format) to a registry through the OCI distribution API.

Blobs are uploaded monolithically and skipped when the registry has them; the
manifest goes up by digest and then under each tag. Auth: anonymous, Basic, or the
Bearer token flow every hosted registry uses (Artifact Registry, ECR, GHCR, Docker
Hub), with a username and password/token from the caller.
"""

from __future__ import annotations

import base64
import json
import re
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tools.images.oci_image import MEDIA_MANIFEST


class PushError(RuntimeError):
    """The registry refused a step of the push; the message names the step and the registry's answer."""


@dataclass(frozen=True)
class Target:
    """Where an image goes: https://host/v2/<repository>/..."""

    host: str
    """Registry host[:port]."""
    repository: str
    """Repository path under the host, e.g. flywheel/serving."""
    scheme: str = "https"
    """http only for a local test registry."""

    @classmethod
    def parse(cls, registry: str, name: str, insecure: bool = False) -> Target:
        """'localhost:5000/flywheel' + 'serving' -> Target('localhost:5000', 'flywheel/serving')."""
        registry = re.sub(r"^[a-z]+://", "", registry).strip("/")
        if not registry or not re.fullmatch(r"[a-z0-9._/-]+", name):
            raise PushError(
                f"bad push target registry='{registry}' name='{name}'; expected HOST[:PORT]/PATH and a name"
            )
        host, _, path = registry.partition("/")
        repository = f"{path}/{name}" if path else name
        return cls(host=host, repository=repository, scheme="http" if insecure else "https")

    def url(self, suffix: str) -> str:
        return f"{self.scheme}://{self.host}/v2/{self.repository}/{suffix}"


class _Session:
    """HTTP to one registry, answering its 401 challenges (Basic or Bearer) once per session."""

    def __init__(self, target: Target, credentials: tuple[str, str] | None) -> None:
        self.target = target
        self.credentials = credentials
        self.authorization: str | None = None

    def request(self, method: str, url: str, data=None, headers: dict | None = None, length: int | None = None):
        for attempt in range(2):
            request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
            if length is not None:
                request.add_header("Content-Length", str(length))
            if self.authorization:
                request.add_header("Authorization", self.authorization)
            try:
                return urllib.request.urlopen(request, timeout=300)
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and attempt == 0 and not self.authorization:
                    self.authorization = self._answer(exc.headers.get("WWW-Authenticate", ""))
                    if hasattr(data, "seek"):
                        data.seek(0)
                    continue
                if exc.code == 404 and method == "HEAD":
                    return None
                body = exc.read().decode(errors="replace")[:500]
                raise PushError(f"{method} {url} -> HTTP {exc.code}: {body}") from None
            except urllib.error.URLError as exc:
                raise PushError(f"{method} {url}: registry unreachable ({exc.reason})") from None
        raise PushError(f"{method} {url}: still unauthorised after answering the registry's challenge")

    def _answer(self, challenge: str) -> str:
        scheme, _, params = challenge.partition(" ")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        basic = None
        if self.credentials:
            basic = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        if scheme.lower() == "basic":
            if basic is None:
                raise PushError(f"{self.target.host} wants a login: pass --username and --password-stdin")
            return basic
        if scheme.lower() != "bearer" or "realm" not in fields:
            raise PushError(f"{self.target.host} sent an auth challenge we cannot answer: '{challenge}'")
        scope = f"repository:{self.target.repository}:pull,push"
        query = urllib.parse.urlencode({"service": fields.get("service", ""), "scope": scope})
        request = urllib.request.Request(f"{fields['realm']}?{query}")
        if basic:
            request.add_header("Authorization", basic)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                token = json.load(response)
        except urllib.error.HTTPError as exc:
            raise PushError(f"token request to {fields['realm']} -> HTTP {exc.code}: check the credentials") from None
        return "Bearer " + (token.get("token") or token["access_token"])


def push(tarball: Path, target: Target, tags: list[str], credentials: tuple[str, str] | None = None) -> str:
    """Uploads the image's blobs and manifest; returns the manifest digest the registry reports."""
    session = _Session(target, credentials)
    with tarfile.open(tarball) as tar:
        index = json.load(tar.extractfile("index.json"))
        digest = index["manifests"][0]["digest"]
        manifest_bytes = tar.extractfile(f"blobs/sha256/{digest.split(':', 1)[1]}").read()
        manifest = json.loads(manifest_bytes)
        for blob in [manifest["config"], *manifest["layers"]]:
            if session.request("HEAD", target.url(f"blobs/{blob['digest']}")) is not None:
                continue
            started = session.request("POST", target.url("blobs/uploads/"), data=b"", length=0)
            location = urllib.parse.urljoin(target.url(""), started.headers["Location"])
            separator = "&" if "?" in location else "?"
            member = tar.extractfile(f"blobs/sha256/{blob['digest'].split(':', 1)[1]}")
            session.request(
                "PUT",
                f"{location}{separator}digest={urllib.parse.quote(blob['digest'])}",
                data=member,
                headers={"Content-Type": "application/octet-stream"},
                length=blob["size"],
            )
    pushed = digest
    for reference in [digest, *tags]:
        response = session.request(
            "PUT", target.url(f"manifests/{reference}"), data=manifest_bytes, headers={"Content-Type": MEDIA_MANIFEST}
        )
        pushed = response.headers.get("Docker-Content-Digest", digest)
    return pushed
