"""--repo: BinderHub's provider specs checked before any request, GitHub URLs turned into specs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bhsvc.errors import UsageError
from bhsvc.repo_spec import PROVIDERS, parse_repo
from clirun import CliRun
from fakes.binderhub import PROVIDERS as FAKE_PROVIDERS
from fakes.binderhub import FakeBinderHub


def test_the_providers_are_binderhubs() -> None:
    # BinderHub.repo_providers' default keys (binderhub/app.py), as the fake serves them.
    assert set(PROVIDERS) == FAKE_PROVIDERS


@pytest.mark.parametrize(
    "spec",
    [
        "gh/binder-examples/requirements/HEAD",
        "gh/org/repo/feature/branch",
        "gh/org/repo.git/v1.0",
        "gist/alice/8f7e6d5c4b3a",
        "gist/alice/8f7e6d5c4b3a/HEAD",
        "gl/group%2Fsub%2Frepo/main",
        "git/https%3A%2F%2Fexample.org%2Frepo.git/HEAD",
        "git/git%40example.org%3Aorg%2Frepo.git/main",
        "zenodo/10.5281/zenodo.3242074",
        "figshare/10.6084/m9.figshare.9782777.v1",
        "dataverse/10.7910/DVN/TJCLKP",
        "hydroshare/b8f6eae9d89241cf8b5904033460af61",
        "ckan/https%3A%2F%2Fdemo.ckan.org%2Fdataset%2Fsample",
    ],
)
def test_specs_binderhub_takes_pass_unchanged(spec: str) -> None:
    assert parse_repo(spec) == spec
    assert parse_repo(f" {spec}/ ") == spec


@pytest.mark.parametrize(
    ("url", "spec"),
    [
        ("https://github.com/binder-examples/requirements", "gh/binder-examples/requirements/HEAD"),
        (
            "https://github.com/binder-examples/requirements/",
            "gh/binder-examples/requirements/HEAD",
        ),
        (
            "https://github.com/binder-examples/requirements.git",
            "gh/binder-examples/requirements/HEAD",
        ),
        ("http://www.github.com/o/r", "gh/o/r/HEAD"),
        ("HTTPS://GitHub.com/o/r", "gh/o/r/HEAD"),
        ("https://github.com/o/r/tree/main", "gh/o/r/main"),
        ("https://github.com/o/r/tree/feature/x", "gh/o/r/feature/x"),
        ("https://github.com/o/r/commit/" + "a" * 40, "gh/o/r/" + "a" * 40),
        ("https://github.com/o/r?tab=readme-ov-file#top", "gh/o/r/HEAD"),
        ("github.com/o/r", "gh/o/r/HEAD"),
    ],
)
def test_github_urls_become_gh_specs(url: str, spec: str) -> None:
    assert parse_repo(url) == spec


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "binder-examples/requirements",
            "--repo 'binder-examples/requirements': 'binder-examples' is not a BinderHub "
            "repository provider (gh, gist, git, gl, zenodo, figshare, hydroshare, dataverse, "
            "ckan); for a GitHub repository: gh/binder-examples/requirements/HEAD",
        ),
        (
            "binder-examples/requirements/main",
            "for a GitHub repository: gh/binder-examples/requirements/main",
        ),
        ("github/o/r/HEAD", "for a GitHub repository: gh/o/r/HEAD"),
        ("requirements", "expected <provider>/<spec>, e.g. gh/binder-examples/requirements/HEAD"),
        ("", "--repo: empty"),
        ("gh", "gh specs are gh/<owner>/<repo>/<ref>"),
        ("gh/binder-examples/requirements", "did you mean gh/binder-examples/requirements/HEAD?"),
        ("gh/org//HEAD", "gh specs are gh/<owner>/<repo>/<ref>"),
        ("zenodo/3242074", "zenodo specs are zenodo/<DOI>"),
        ("gh/org/repo/HEAD?x=1", "contains '?' or '#'"),
        ("gh/a b/c/d", "contains spaces or control characters"),
        ("gh/a\x1b[31m/c/d", "contains spaces or control characters"),
        ("gh/a/b/\u202eHEAD", "holds an invisible formatting character (U+202E)"),
        ("gh/a/b/\u2066HEAD\u2069", "holds an invisible formatting character (U+2066)"),
        ("gh/a\u200b/b/HEAD", "holds an invisible formatting character (U+200B)"),
        ("gh/a/b\u200f/HEAD", "holds an invisible formatting character (U+200F)"),
        ("\ufeffgh/a/b/HEAD", "holds an invisible formatting character (U+FEFF)"),
        ("https://github.com/o/r\u202a", "holds an invisible formatting character (U+202A)"),
        (
            "git/https://github.com/o/r.git/HEAD",
            "the git provider takes the repository URL escaped: "
            "git/https%3A%2F%2Fgithub.com%2Fo%2Fr.git/HEAD",
        ),
        ("git/ftp%3A%2F%2Fexample.org%2Fr/HEAD", "the git provider needs an http, https"),
        (
            "https://gitlab.com/group/project",
            "only GitHub URLs are turned into a spec; for another git repository use "
            "git/https%3A%2F%2Fgitlab.com%2Fgroup%2Fproject/HEAD",
        ),
        ("https://github.com/o", "a GitHub URL names an owner and a repository"),
        ("https://github.com/o/r/blob/main/README.md", "…/tree/<branch or tag>"),
        ("https://github.com:99999/o/r", "not a valid URL"),
    ],
)
def test_bad_values_are_one_line_naming_the_flag(value: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_repo(value)
    assert message in str(err.value)
    assert str(err.value).startswith("--repo")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("value", "used"),
    [
        ("https://github.com/binder-examples/requirements", "gh/binder-examples/requirements/HEAD"),
        ("https://github.com/o/r/tree/dev", "gh/o/r/dev"),
    ],
)
def test_verify_builds_a_github_url(
    run_cli: Callable[..., CliRun], binderhub: Callable[..., FakeBinderHub], value: str, used: str
) -> None:
    fake = binderhub()
    result = run_cli("verify", "--url", fake.url, "--repo", value, "-o", "json")
    assert result.code == 0, result.out
    assert result.json()["repo"] == used
    assert fake.requests[-1].path == f"/build/{used}"


def test_an_unknown_provider_is_bad_input_before_any_request(
    run_cli: Callable[..., CliRun], binderhub: Callable[..., FakeBinderHub]
) -> None:
    fake = binderhub()
    result = run_cli("verify", "--url", fake.url, "--repo", "binder-examples/requirements")
    assert result.code == 2
    assert result.err.strip().endswith(
        "for a GitHub repository: gh/binder-examples/requirements/HEAD"
    )
    assert fake.requests == []


def test_invisible_characters_are_bad_input_shown_escaped(
    run_cli: Callable[..., CliRun], binderhub: Callable[..., FakeBinderHub]
) -> None:
    fake = binderhub()
    result = run_cli("verify", "--url", fake.url, "--repo", "gh/a/b/\u202eHEAD", "-o", "json")
    assert result.code == 2
    error = "--repo 'gh/a/b/\\u202eHEAD': holds an invisible formatting character (U+202E)"
    assert result.json() == {"ok": False, "error": error, "exit_code": 2}
    assert result.err == f"error: {error}\n"  # escaped: the override never reaches the terminal
    assert fake.requests == []
