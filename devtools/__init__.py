"""Real-registry test infrastructure shared by the tests, the demo and the benchmarks.

Independent of the code under test on purpose: nothing here imports ``doctor_oci``. Content is
pushed with plain httpx, so a bug in the product's client cannot hide behind a helper that shares it.

Modules:

* :mod:`devtools.registry` -- start Debian's ``docker-registry`` (open, htpasswd over TLS, token auth).
* :mod:`devtools.token_server` -- a Docker token server whose JWTs that registry accepts.
* :mod:`devtools.registry_http` -- a small sync HTTP client that does Basic auth and the token dance.
* :mod:`devtools.images` -- push images, referrers, the referrers tag schema, cosign tags, many tags.
* :mod:`devtools.storage` -- snapshot/diff the registry's filesystem storage, list live uploads.
* :mod:`devtools.ports` -- free loopback ports.
"""
