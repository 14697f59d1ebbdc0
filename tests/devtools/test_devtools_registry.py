"""The registry fixtures start Debian's docker-registry in each mode and it answers as expected."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from devtools.naming import repository_name
from devtools.ports import free_port, port_is_listening
from devtools.registry import (
    RegistryBinaryMissing,
    RegistryStartError,
    RunningRegistry,
    find_registry_binary,
    start_registry,
)


def test_open_registry_answers_anonymously(open_registry: RunningRegistry) -> None:
    response = httpx.get(f"{open_registry.url}/v2/")
    assert response.status_code == 200
    assert response.headers["docker-distribution-api-version"] == "registry/2.0"
    assert open_registry.url == f"http://127.0.0.1:{open_registry.port}"
    assert open_registry.host == f"127.0.0.1:{open_registry.port}"
    assert (
        open_registry.ca_bundle is None and open_registry.users == {} and open_registry.token_server is None
    )
    assert open_registry.storage.is_dir()


def test_tls_registry_challenges_for_basic_auth(tls_registry: RunningRegistry) -> None:
    assert tls_registry.url == f"https://localhost:{tls_registry.port}"
    assert tls_registry.ca_bundle is not None and tls_registry.ca_bundle.is_file()
    verify = tls_registry.client_verify()
    anonymous = httpx.get(f"{tls_registry.url}/v2/", verify=verify)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic realm=")
    for user in ("admin", "reader"):
        ok = httpx.get(f"{tls_registry.url}/v2/", verify=verify, auth=tls_registry.credentials(user))
        assert ok.status_code == 200, user
    wrong = httpx.get(f"{tls_registry.url}/v2/", verify=verify, auth=("admin", "not-the-password"))
    assert wrong.status_code == 401


def test_tls_registry_certificate_names_localhost_and_loopback_ip(tls_registry: RunningRegistry) -> None:
    verify = tls_registry.client_verify()
    by_ip = httpx.get(f"https://127.0.0.1:{tls_registry.port}/v2/", verify=verify)
    assert by_ip.status_code == 401


def test_tls_registry_is_not_trusted_without_the_ca_bundle(tls_registry: RunningRegistry) -> None:
    with pytest.raises(httpx.ConnectError) as caught:
        httpx.get(f"{tls_registry.url}/v2/")
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


def test_tls_registry_rejects_plain_http(tls_registry: RunningRegistry) -> None:
    response = httpx.get(f"http://127.0.0.1:{tls_registry.port}/v2/")
    assert response.status_code == 400
    assert "HTTPS server" in response.text


def test_token_registry_sends_a_bearer_challenge(token_registry: RunningRegistry) -> None:
    assert token_registry.token_server is not None
    response = httpx.get(f"{token_registry.url}/v2/")
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'realm="{token_registry.token_server.realm}"' in challenge
    assert f'service="{token_registry.token_server.service}"' in challenge
    # Basic credentials are not accepted by a token-auth registry.
    basic = httpx.get(f"{token_registry.url}/v2/", auth=token_registry.credentials("admin"))
    assert basic.status_code == 401


def test_nodelete_registry_refuses_deletes(nodelete_registry: RunningRegistry) -> None:
    assert nodelete_registry.delete_enabled is False
    config = yaml.safe_load(nodelete_registry.config_path.read_text())
    assert config["storage"]["delete"]["enabled"] is False
    digest = "sha256:" + "0" * 64
    response = httpx.delete(f"{nodelete_registry.url}/v2/test/none/manifests/{digest}")
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "UNSUPPORTED"


def test_open_registry_deletes_are_enabled(open_registry: RunningRegistry) -> None:
    digest = "sha256:" + "0" * 64
    response = httpx.delete(f"{open_registry.url}/v2/test/none/manifests/{digest}")
    assert response.status_code == 404


def test_config_sets_secret_storage_and_no_upload_purging(open_registry: RunningRegistry) -> None:
    config = yaml.safe_load(open_registry.config_path.read_text())
    assert len(config["http"]["secret"]) >= 32
    assert config["http"]["addr"] == f"127.0.0.1:{open_registry.port}"
    assert config["storage"]["filesystem"]["rootdirectory"] == str(open_registry.storage)
    assert config["storage"]["maintenance"]["uploadpurging"]["enabled"] is False


def test_oci_config_per_mode(
    open_registry: RunningRegistry, tls_registry: RunningRegistry, token_registry: RunningRegistry
) -> None:
    assert open_registry.oci_config() == {"RegistryUrl": open_registry.url}
    tls = tls_registry.oci_config(TestRepository="test/x")
    assert tls == {
        "RegistryUrl": tls_registry.url,
        "Username": "admin",
        "Password": tls_registry.users["admin"],
        "CaBundle": str(tls_registry.ca_bundle),
        "TestRepository": "test/x",
    }
    token = token_registry.oci_config(Username="reader", Password=token_registry.users["reader"])
    assert token == {
        "RegistryUrl": token_registry.url,
        "Username": "reader",
        "Password": token_registry.users["reader"],
    }


def test_oci_config_override_none_removes_and_unknown_key_is_refused(tls_registry: RunningRegistry) -> None:
    config = tls_registry.oci_config(Password=None, CaBundle=None)
    assert "Password" not in config and "CaBundle" not in config and config["Username"] == "admin"
    with pytest.raises(ValueError, match="RegistryURL"):
        tls_registry.oci_config(RegistryURL="http://x")


def test_passwords_stay_out_of_repr(tls_registry: RunningRegistry, token_registry: RunningRegistry) -> None:
    for registry in (tls_registry, token_registry):
        text = repr(registry) + repr(registry.http("admin")) + repr(registry.token_server)
        for password in registry.users.values():
            assert password not in text


def test_users_are_random(tls_registry: RunningRegistry, token_registry: RunningRegistry) -> None:
    assert set(tls_registry.users) == {"admin", "reader"}
    assert tls_registry.users["admin"] != tls_registry.users["reader"]
    assert tls_registry.users["admin"] != token_registry.users["admin"]
    assert len(tls_registry.users["admin"]) >= 16


def test_stop_terminates_the_process_and_frees_the_port(tmp_path: Path, registry_binary: Path) -> None:
    with start_registry("token", workdir=tmp_path) as registry:
        assert registry.is_running()
        assert registry.token_server is not None
        token_port = registry.token_server.port
        assert port_is_listening(registry.port)
    assert not registry.is_running()
    assert registry.process is not None and registry.process.returncode is not None
    assert not port_is_listening(registry.port)
    assert not port_is_listening(token_port)
    registry.stop()  # idempotent


def test_custom_users_and_factory(registry_factory: Callable[..., RunningRegistry]) -> None:
    registry = registry_factory("htpasswd-tls", users={"alice": "correct-horse-battery"})
    assert registry.users == {"alice": "correct-horse-battery"}
    assert registry.admin_user is None
    assert registry.oci_config() == {"RegistryUrl": registry.url, "CaBundle": str(registry.ca_bundle)}
    response = httpx.get(
        f"{registry.url}/v2/", verify=registry.client_verify(), auth=("alice", "correct-horse-battery")
    )
    assert response.status_code == 200
    with pytest.raises(KeyError, match="alice"):
        registry.credentials("bob")


def test_bad_arguments_are_refused(tmp_path: Path, registry_binary: Path) -> None:
    with pytest.raises(ValueError, match="unknown registry mode"):
        start_registry("weird", workdir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no users"):
        start_registry("open", workdir=tmp_path, users={"a": "b"})
    with pytest.raises(ValueError, match="invalid user entry"):
        start_registry("htpasswd-tls", workdir=tmp_path, users={"a:b": "pw"})
    with pytest.raises(ValueError, match="token_options"):
        start_registry("open", workdir=tmp_path, token_options={"oauth_post": False})


def test_a_registry_that_dies_reports_its_log(tmp_path: Path, registry_binary: Path) -> None:
    with pytest.raises(RegistryStartError, match="invalid loglevel"):
        start_registry("open", workdir=tmp_path, log_level="bogus")


def test_missing_binary_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RegistryBinaryMissing, match="apt-get install docker-registry"):
        find_registry_binary()
    with pytest.raises(RegistryBinaryMissing):
        start_registry("open", workdir=tmp_path)


def test_environment_cannot_override_the_config(
    monkeypatch: pytest.MonkeyPatch, registry_factory: Callable[..., RunningRegistry]
) -> None:
    monkeypatch.setenv("REGISTRY_HTTP_ADDR", f"127.0.0.1:{free_port()}")
    registry = registry_factory("open")
    assert httpx.get(f"{registry.url}/v2/").status_code == 200


def test_unique_repo_is_a_valid_fresh_name(unique_repo: str) -> None:
    assert unique_repo.startswith("test/test-unique-repo-is-a-valid-fresh-name-")
    assert repository_name("Test_Weird[Param/1]", 7) == "test/test-weird-param-1-7"
    assert repository_name("___", 3) == "test/repo-3"
