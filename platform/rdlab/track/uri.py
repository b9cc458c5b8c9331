"""Tracking URIs and credentials: what rdlab accepts, prints and hands to MLflow.

Credentials in a tracking URI (``https://user:password@host``) never reach MLflow's URL
(MLflow copies request URLs into its error messages, so they would end up in tracebacks
and logs) and never enter the process-wide environment (a reused Ray worker would keep
them for the next study's trials): :func:`client` builds an MLflow client whose REST store
and artifact repositories carry them as basic-auth credentials of that client only. Every
URI rdlab prints goes through :func:`redact_uri`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rdlab.errors import SpecError

# Tracking stores MLflow 3 serves (the old local file store is refused by design).
TRACKING_SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql", "databricks")
# Stores that are a file on one machine's disk: fine for a local study, refused on a cluster.
LOCAL_SCHEMES = ("sqlite",)


def default_tracking_uri(study_dir: Path) -> str:
    return f"sqlite:///{Path(study_dir).resolve() / 'mlflow.db'}"


def is_local_store(uri: str) -> bool:
    """A tracking store only this machine can open (a sqlite file)."""
    return urlsplit(uri).scheme.split("+", 1)[0] in LOCAL_SCHEMES


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """``(uri without user:password, user, password)``; only for http(s) URIs."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return uri, None, None
    host = parts.netloc.rsplit("@", 1)[1]
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, parts.username, parts.password


def redact_uri(uri: str | None) -> str:
    """The URI with any ``user:password@`` replaced by ``***@``: safe to print and log.
    Deliberately not urlsplit: a malformed URI (``my_store://u:pw@h``) must not leak."""
    if not uri:
        return str(uri)
    head, sep, rest = uri.partition("://")
    if not sep:
        head, rest = "", uri
    cut = rest.split("?", 1)[0].split("#", 1)[0].rfind("@")
    return uri if cut < 0 else f"{head}{sep}***{rest[cut:]}"


def check_tracking_uri(uri: str) -> None:
    """Refuse a tracking URI MLflow cannot use, before anything is written. The message
    shows the URI redacted: it may carry a password."""
    parts = urlsplit(uri)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in TRACKING_SCHEMES:
        raise SpecError(
            "--tracking-uri",
            f"unsupported scheme in {redact_uri(uri)!r}; use one of "
            f"{', '.join(s + '://' for s in TRACKING_SCHEMES)}",
        )
    if scheme in ("http", "https") and not parts.hostname:
        raise SpecError("--tracking-uri", f"no host in {redact_uri(uri)!r}")


def client(uri: str) -> Any:
    """An ``MlflowClient`` for ``uri``; credentials in it stay with this client."""
    from mlflow.tracking import MlflowClient  # lazy: mlflow is heavy

    # rdlab buffers and retries itself (rdlab.track.retry). MLflow's own default, 7 retries
    # with exponential backoff, would stall training for minutes per call during an outage.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    clean, user, password = split_credentials(uri)
    c = MlflowClient(tracking_uri=clean)
    if user is not None:
        _authenticate(c, clean, user, password)
    return c


def _authenticate(c: Any, uri: str, user: str, password: str | None) -> None:
    """Give client ``c`` basic-auth credentials for its REST store and for the artifact
    repositories it opens, without MLflow's environment variables (which it would
    otherwise read, process-wide, on every request)."""
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.tracking._tracking_service.client import TrackingServiceClient
    from mlflow.utils.credentials import get_default_host_creds

    def creds(host: str) -> Any:
        base = get_default_host_creds(host)
        base.username, base.password = user, password
        return base

    store = RestStore(lambda: creds(uri))

    class _Authed(TrackingServiceClient):
        @property
        def store(self) -> Any:
            return store

        def _get_artifact_repo(self, resource_id: str, **kwargs: Any) -> Any:
            repo = super()._get_artifact_repo(resource_id, **kwargs)
            if isinstance(repo, HttpArtifactRepository) and not getattr(repo, "_rdlab", False):
                host = repo.artifact_uri
                repo.__class__ = type(
                    "Authed" + type(repo).__name__,
                    (type(repo),),
                    {"_host_creds": property(lambda _self: creds(host)), "_rdlab": True},
                )
            return repo

    c._tracking_client = _Authed(uri)
