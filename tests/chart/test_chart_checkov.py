"""checkov on the rendered seed scenario: no finding outside the allow-list, and
with the images' digests recorded (as a release records them) only the container
engine's own findings.

Runs when BHSVC_CHECKOV names a checkov executable (checkov lives in its own
virtualenv: it pins versions of libraries this project also uses).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from chartlib import example_digest, listed_images

CHECKOV = os.environ.get("BHSVC_CHECKOV")

# (check id, kind of the object) -> why the finding is accepted
ALLOWED = {
    # The container engine (dind) runs the build steps: a privileged root daemon.
    ("CKV_K8S_16", "DaemonSet"): "dockerd needs a privileged container to run build containers",
    ("CKV_K8S_20", "DaemonSet"): "privileged implies privilege escalation (they cannot be split)",
    ("CKV_K8S_23", "DaemonSet"): "dockerd runs as root",
    ("CKV_K8S_28", "DaemonSet"): "privileged keeps all capabilities, NET_RAW included",
    ("CKV_K8S_37", "DaemonSet"): "privileged keeps all capabilities",
    ("CKV_K8S_40", "DaemonSet"): "dockerd runs as root (UID 0)",
}
# Until a release records the images' digests (imageDigests), they run by tag.
TAGGED = {
    ("CKV_K8S_43", "DaemonSet"): "the daemon and cleaner images run by tag",
    ("CKV_K8S_43", "Deployment"): "the BinderHub image runs by tag (image.tag)",
    ("CKV_K8S_43", "Job"): "the helm test Job runs the BinderHub image, by tag",
    # A tag is pulled IfNotPresent: pods restart while the registry is down
    # (the kubelet's own default for a tag other than latest). A digest passes.
    ("CKV_K8S_15", "DaemonSet"): "pinned images are not pulled again (the daemon restarts offline)",
    ("CKV_K8S_15", "Deployment"): "pinned images are not pulled again (BinderHub restarts offline)",
    ("CKV_K8S_15", "Job"): "the helm test Job pulls the BinderHub image like BinderHub's pod",
}

# The findings of the seed scenario: exactly the allowed ones today. Going
# above these numbers fails the test even with an allowed finding.
MAX_FAILED = {"tagged": len(ALLOWED) + len(TAGGED), "pinned": len(ALLOWED)}


@pytest.fixture(scope="module", params=["tagged", "pinned"])
def report(request, helm4, render, tmp_path_factory) -> dict:
    if not CHECKOV:
        pytest.skip("BHSVC_CHECKOV is not set")
    rendered = tmp_path_factory.mktemp("checkov") / "seed.yaml"
    digests = {image: example_digest(image) for image in listed_images()}
    extra = {"imageDigests": digests} if request.param == "pinned" else None
    rendered.write_text(render(helm4, "seed", extra=extra).text)
    proc = subprocess.run(
        [
            CHECKOV,
            "--file",
            str(rendered),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--soft-fail",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(rendered).parent,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    if isinstance(report, list):
        (report,) = [r for r in report if r.get("check_type") == "kubernetes"]
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] > 0
    report["scenario"] = request.param
    return report


def summary(report: dict) -> str:
    """The counts and the failed checks, for assertion messages."""
    counts = report["summary"]
    failed = sorted(f"{f['check_id']} {f['resource']}" for f in report["results"]["failed_checks"])
    return f"passed={counts['passed']} failed={counts['failed']}: " + ", ".join(failed)


def test_every_finding_is_allowed(report):
    allowed = ALLOWED if report["scenario"] == "pinned" else {**ALLOWED, **TAGGED}
    unexpected = [
        f"{f['check_id']} {f['resource']}: {f['check_name']}"
        for f in report["results"]["failed_checks"]
        if (f["check_id"], f["resource"].split(".")[0]) not in allowed
    ]
    assert unexpected == [], summary(report)


def test_number_of_findings(report):
    failed = report["results"]["failed_checks"]
    assert report["summary"]["failed"] == len(failed)
    assert len(failed) <= MAX_FAILED[report["scenario"]], summary(report)
    assert report["summary"]["passed"] > 0, summary(report)


@pytest.mark.parametrize(
    ("check_id", "kind"),
    [
        ("CKV_K8S_38", "Deployment"),  # explicit token volume, no automount
        ("CKV_K8S_40", "Deployment"),  # UID 10001
        ("CKV_K8S_40", "Job"),
        ("CKV_K8S_38", "Job"),
        ("CKV_K8S_22", "DaemonSet"),  # read-only root: dockerd writes to emptyDirs
        ("CKV_K8S_8", "DaemonSet"),  # the engine and the cleaner have probes
        ("CKV_K8S_9", "DaemonSet"),
        ("CKV_K8S_11", "DaemonSet"),  # the engine has limits: builds share them
        ("CKV_K8S_13", "DaemonSet"),
        ("CKV_K8S_35", "Deployment"),  # shared secrets as files, not env vars
        ("CKV_K8S_38", "DaemonSet"),
    ],
)
def test_hardening_passes(report, check_id, kind):
    """Checks that the chart passes by design, and that a change must not
    turn into findings (the helm test Job has no probes to check: checkov
    does not run CKV_K8S_8/9 on Jobs)."""
    passed = {
        (f["check_id"], f["resource"].split(".")[0]) for f in report["results"]["passed_checks"]
    }
    assert (check_id, kind) in passed, summary(report)
