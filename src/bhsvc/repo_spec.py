"""What `bhsvc verify --repo` accepts, turned into BinderHub's `<provider>/<spec>`.

Pure code: a bad value is a UsageError (exit 2) before any request, with the
spelling BinderHub would have accepted when there is one to suggest.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

from bhsvc.errors import UsageError
from bhsvc.text import unplain_problem

EXAMPLE = "gh/binder-examples/requirements/HEAD"

# BinderHub's default repository providers (BinderHub.repo_providers, binderhub/app.py)
# and the shape of each one's spec (display_config "validateRegex", repoproviders.py).
PROVIDERS: dict[str, tuple[str, str]] = {
    "gh": (r"[^/]+/[^/]+/.+", "gh/<owner>/<repo>/<ref>"),
    "gist": (r"[^/]+/[^/]+(/[^/]+)?", "gist/<user>/<gist id>[/<ref>]"),
    "git": (r"[^/]+/.+", "git/<url-escaped repository URL>/<ref>"),
    "gl": (r"[^/]+/.+", "gl/<url-escaped group/project>/<ref>"),
    "zenodo": (r"10\.\d+/.+", "zenodo/<DOI>"),
    "figshare": (r"10\.\d+/.+", "figshare/<DOI>"),
    "hydroshare": (r"[^/]+", "hydroshare/<resource id>"),
    "dataverse": (r"10\.\d+/.+", "dataverse/<DOI>"),
    "ckan": (r"[^/]+", "ckan/<url-escaped dataset URL>"),
}
# The git provider's allowed protocols, and its user@host:path form (GitRepoProvider).
_GIT_SCHEMES = ("http", "https", "git", "ssh")
_GIT_SSH = re.compile(r"[\w\-]+@[\w\-\.]+:.+")
_GITHUB_HOSTS = ("github.com", "www.github.com")
_OWNER_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/.+)?")
_REF_LIKE = re.compile(r"HEAD|main|master|[0-9a-f]{7,40}")


def parse_repo(text: str) -> str:
    """BinderHub's `<provider>/<spec>` for `text`: a spec, or a GitHub repository URL."""
    text = text.strip()
    if not text:
        raise UsageError(f"--repo: empty; expected <provider>/<spec>, e.g. {EXAMPLE}")
    if any(ch.isspace() or ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in text):
        raise UsageError(f"--repo {text!r}: contains spaces or control characters")
    problem = unplain_problem(text)  # bidi overrides and zero-width characters hide in a spec
    if problem:
        raise UsageError(f"--repo {text!r}: {problem}")
    if re.match(r"(?i)https?://", text):
        return _from_url(text)
    spec = text.strip("/")
    provider, _, rest = spec.partition("/")
    if provider.lower() in _GITHUB_HOSTS:
        return _from_url(f"https://{spec}")
    if provider not in PROVIDERS:
        raise UsageError(f"--repo {text!r}: {_unknown_provider(provider, spec)}")
    if "?" in rest or "#" in rest:
        raise UsageError(f"--repo {text!r}: contains '?' or '#'")
    pattern, shape = PROVIDERS[provider]
    if not re.fullmatch(pattern, rest):
        hint = f"; did you mean {spec}/HEAD?" if provider == "gh" and rest.count("/") == 1 else ""
        raise UsageError(f"--repo {text!r}: {provider} specs are {shape}{hint}")
    if provider == "git":
        _check_git_url(text, rest)
    return spec


def _unknown_provider(provider: str, spec: str) -> str:
    known = ", ".join(PROVIDERS)
    if provider.lower() == "github":  # github/<owner>/<repo>[/<ref>]
        spec = spec.partition("/")[2]
    if _OWNER_REPO.fullmatch(spec):
        owner, repo, ref = [*spec.split("/", 2), ""][:3]
        suggestion = f"gh/{owner}/{repo.removesuffix('.git')}/{ref or 'HEAD'}"
        return (
            f"{provider!r} is not a BinderHub repository provider ({known}); "
            f"for a GitHub repository: {suggestion}"
        )
    return (
        f"{provider!r} is not a BinderHub repository provider ({known}); "
        f"expected <provider>/<spec>, e.g. {EXAMPLE}"
    )


def _check_git_url(text: str, rest: str) -> None:
    """The git provider's URL must be one URL-escaped path segment with a known protocol."""
    escaped = rest.split("/", 1)[0]
    url = unquote(escaped)
    parts = urlsplit(url)
    if (parts.scheme.lower() in _GIT_SCHEMES and parts.netloc) or _GIT_SSH.fullmatch(url):
        return
    if escaped.lower().rstrip(":") in _GIT_SCHEMES:  # an unescaped URL, cut at its slashes
        url, _, ref = rest.rpartition("/")
        if not url.lower().endswith(".git") and not _REF_LIKE.fullmatch(ref):
            url, ref = rest, "HEAD"
        raise UsageError(
            f"--repo {text!r}: the git provider takes the repository URL escaped: "
            f"git/{quote(url, safe='')}/{ref}"
        )
    raise UsageError(
        f"--repo {text!r}: the git provider needs an {', '.join(_GIT_SCHEMES)} or "
        "user@host:path repository URL, URL-escaped, then /<ref>"
    )


def _from_url(url: str) -> str:
    """`gh/<owner>/<repo>/<ref>` for a GitHub repository URL (…/tree/<ref>, …/commit/<sha>)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - validates the port number
    except ValueError:
        raise UsageError(f"--repo {url!r}: not a valid URL") from None
    if host not in _GITHUB_HOSTS:
        plain = f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
        raise UsageError(
            f"--repo {url!r}: only GitHub URLs are turned into a spec; for another git "
            f"repository use git/{quote(plain, safe='')}/HEAD"
        )
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 2:
        raise UsageError(f"--repo {url!r}: a GitHub URL names an owner and a repository")
    owner, repo = segments[0], segments[1].removesuffix(".git")
    if len(segments) == 2:
        ref = "HEAD"
    elif segments[2] in ("tree", "commit") and len(segments) > 3:
        ref = "/".join(segments[3:])
    else:
        raise UsageError(
            f"--repo {url!r}: give the repository's URL, or …/tree/<branch or tag> "
            "or …/commit/<sha>"
        )
    return f"gh/{owner}/{repo}/{ref}"
