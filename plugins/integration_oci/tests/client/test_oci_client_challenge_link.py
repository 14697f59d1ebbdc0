"""WWW-Authenticate and Link parsing, including the quirks registries really send."""

from __future__ import annotations

import contextlib

import pytest
from doctor_oci.client import ProtocolError, next_link, parse_links, parse_www_authenticate
from hypothesis import given
from hypothesis import strategies as st


def test_docker_hub_bearer_challenge() -> None:
    [challenge] = parse_www_authenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:samalba/my-app:pull,push"'
    )
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.docker.io/token"
    assert challenge.service == "registry.docker.io"
    assert challenge.scopes == ("repository:samalba/my-app:pull,push",)
    assert challenge.error is None


def test_ecr_basic_challenge() -> None:
    [challenge] = parse_www_authenticate(
        'Basic realm="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/",service="ecr.amazonaws.com"'
    )
    assert challenge.scheme == "basic"
    assert challenge.realm == "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/"
    assert challenge.service == "ecr.amazonaws.com"


def test_several_challenges_in_one_header_and_across_lines() -> None:
    one_line = parse_www_authenticate(
        'Basic realm="r1", Bearer realm="https://a/t",service="s",error="invalid_token"'
    )
    assert [c.scheme for c in one_line] == ["basic", "bearer"]
    assert one_line[1].error == "invalid_token" and one_line[1].service == "s"
    lines = parse_www_authenticate(['Basic realm="r1"', 'Bearer realm="https://a/t"'])
    assert [c.scheme for c in lines] == ["basic", "bearer"]


def test_quoted_commas_escapes_case_and_multiple_scopes() -> None:
    [challenge] = parse_www_authenticate(
        'BEARER Realm="https://a/t?x=1,2", SERVICE = "svc", '
        'scope="repository:a/b:pull,push repository:c:pull", error=insufficient_scope, note="say \\"hi\\""'
    )
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://a/t?x=1,2"
    assert challenge.service == "svc"
    assert challenge.scopes == ("repository:a/b:pull,push", "repository:c:pull")
    assert challenge.error == "insufficient_scope"
    assert challenge.params["note"] == 'say "hi"'


def test_repeated_scope_parameters_add_up_and_host_port_scope_kept_whole() -> None:
    [challenge] = parse_www_authenticate(
        'Bearer realm="r",scope="repository:localhost:5000/x:pull",scope="registry:catalog:*"'
    )
    assert challenge.scopes == ("repository:localhost:5000/x:pull", "registry:catalog:*")


def test_token68_and_garbage() -> None:
    challenges = parse_www_authenticate("Negotiate YWJj==, Basic realm=plain")
    assert [c.scheme for c in challenges] == ["negotiate", "basic"]
    assert challenges[0].token68 == "YWJj=="
    assert challenges[1].realm == "plain"
    assert parse_www_authenticate(None) == []
    assert parse_www_authenticate(["", "   "]) == []
    unterminated = parse_www_authenticate('Bearer realm="https://a/t')
    assert unterminated[0].realm == "https://a/t"


@given(st.lists(st.text(max_size=200), max_size=4))
def test_parser_never_raises(values: list[str]) -> None:
    for challenge in parse_www_authenticate(values):
        assert challenge.scheme == challenge.scheme.lower()
        assert isinstance(challenge.scopes, tuple)


def test_next_link_relative_and_absolute() -> None:
    base = "http://127.0.0.1:5000/v2/_catalog?n=2"
    assert (
        next_link('</v2/_catalog?last=b&n=2>; rel="next"', base)
        == "http://127.0.0.1:5000/v2/_catalog?last=b&n=2"
    )
    header = (
        '<https://r.example.com/v2/x/tags/list?n=1&last=a>; rel="prev", '
        "<https://r.example.com:443/v2/x/tags/list?n=1&last=c,d>; rel=next"
    )
    assert next_link(header, "https://r.example.com/v2/x/tags/list?n=1") == (
        "https://r.example.com:443/v2/x/tags/list?n=1&last=c,d"
    )
    assert next_link('<https://r.example.com/p>; rel="prev"', "https://r.example.com/") is None
    assert next_link(None, base) is None
    assert next_link("garbage; rel=next", base) is None
    assert parse_links('<a>; rel="next"; title="x;y"') == [("a", {"rel": "next", "title": "x;y"})]


@pytest.mark.parametrize(
    "target", ["https://evil.example.com/v2/x", "http://r.example.com/v2/x", "https://r.example.com:8443/x"]
)
def test_next_link_to_another_origin_is_refused(target: str) -> None:
    with pytest.raises(ProtocolError, match="another host"):
        next_link(f'<{target}>; rel="next"', "https://r.example.com/v2/x/tags/list")


@given(st.text(max_size=300))
def test_link_parser_never_raises_on_garbage(header: str) -> None:
    with contextlib.suppress(ProtocolError):
        next_link(header, "https://r.example.com/v2/")
