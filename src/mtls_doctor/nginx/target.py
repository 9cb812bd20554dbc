"""The nginx a prediction is for: ``--nginx PATH``, ``--nginx-version``, ``--openssl-version``.

verify, lint, probe and diagnose take the same three options and mean the same by them:

- ``--nginx PATH``: that binary (also one inside another OS root, ``nginx.local``): its version
  and TLS library from ``nginx -V``, and verification with the very libcrypto it loads (exact);
- ``--nginx-version X.Y.Z``: the version gates of ``nginx.version`` (defaults, directives);
- ``--openssl-version X.Y.Z``: the OpenSSL to predict codes and texts for
  (``pki.openssl_versions``); exact when the verifying library is of that series, approximate
  (and said so) otherwise.

Explicit versions win over what the binary says. ``resolve`` raises ``InputError`` (one line,
exit 2) for a path that is not nginx or a version that does not parse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mtls_doctor.model import InputError
from mtls_doctor.nginx.version import Version, parse_version


@dataclass(frozen=True)
class Target:
    """What the predictions are made for, and how exactly."""

    nginx_version: Version | None = None
    openssl_version: str | None = None  # the release to predict for; None: the verifier's own
    build: Any = None  # nginx.local.NginxBuild of --nginx
    notes: tuple[str, ...] = field(default=())

    @property
    def libcrypto(self) -> str | None:
        return self.build.libcrypto if self.build is not None else None

    def verifier_args(self) -> tuple[dict[str, Any], tuple[str, ...]]:
        """Keyword arguments for ``pki.verify.Verifier`` (engine, openssl_version) and notes.

        With --nginx the engine is that nginx's libcrypto (in a helper process when this
        process cannot load it); when it cannot run anywhere, this process's library with the
        nginx's OpenSSL version (approximate) and a note that says exactly why.
        """
        from mtls_doctor.pki import libcrypto, remote

        notes: list[str] = []
        version = self.openssl_version
        if self.libcrypto is not None:
            try:
                engine = remote.engine_for(self.libcrypto)
            except libcrypto.LibcryptoUnavailable as exc:
                notes.append(f"cannot verify with {self.libcrypto}, the libcrypto of "
                             f"{self.build.path} ({exc}); predicted from this machine's OpenSSL "
                             "instead (approximate)")
                return {"openssl_version": version}, tuple(notes)
            explicit = version is not None and version != self.build.openssl_version
            return {"engine": engine, "openssl_version": version if explicit else None}, tuple(notes)
        return {"openssl_version": version}, tuple(notes)

    def to_dict(self) -> dict[str, Any]:
        return {"nginx_version": str(self.nginx_version) if self.nginx_version else None,
                "openssl_version": self.openssl_version,
                "nginx": self.build.to_dict() if self.build is not None else None,
                "notes": list(self.notes)}


def resolve(nginx: str | None = None, nginx_version: str | None = None,
            openssl_version: str | None = None) -> Target:
    """The Target of the three options (see the module docstring)."""
    from mtls_doctor.pki.openssl_versions import parse_release

    try:
        if openssl_version is not None:
            parse_release(openssl_version)
    except InputError as exc:
        raise InputError(f"--openssl-version: {exc}") from None
    try:
        version = parse_version(nginx_version) if nginx_version is not None else None
    except InputError as exc:
        raise InputError(f"--nginx-version: {exc}") from None
    build = None
    notes: list[str] = []
    if nginx is not None:
        from mtls_doctor.nginx.local import describe_nginx, find_local_nginx

        path = find_local_nginx(nginx)
        build = describe_nginx(path) if path else None
        if build is None:
            raise InputError(f"--nginx {nginx}: not an nginx binary (`nginx -V` printed no "
                             "nginx version)")
        if version is None and build.version:
            version = parse_version(build.version)
        if build.tls_library in ("LibreSSL", "BoringSSL"):
            notes.append(f"{build.path} is built with {build.built_with}: verify reproduces "
                         f"OpenSSL, so its codes and texts for {build.tls_library} are not exact")
        elif build.tls_library == "none":
            notes.append(f"{build.path} has no SSL module: it cannot do mTLS at all")
        if openssl_version is None:
            openssl_version = build.openssl_version
    return Target(nginx_version=version, openssl_version=openssl_version, build=build,
                  notes=tuple(notes))
