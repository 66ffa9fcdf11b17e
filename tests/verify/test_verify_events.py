"""The event-stream parser and the phase tracker, on their own."""

from __future__ import annotations

import json
import random

from bhsvc.events import (
    KEEPALIVE,
    BuildTracker,
    Event,
    EventStreamParser,
    Keepalive,
    Outcome,
    explain_failure,
    is_build_only_refusal,
    is_push_auth_failure,
    layer_progress,
)

# A stream as BinderHub writes it: events, a keepalive comment, a non-JSON line.
EVENTS = [
    {"phase": "waiting", "message": "Waiting for build to start...\n"},
    {"message": "Picked Git content provider.\n", "phase": "fetching"},
    {
        "message": "Step 1/3 : FROM docker.io/library/buildpack-deps:jammy ünïcode ✓\n",
        "phase": "building",
    },
    {"message": "Pushing image\n", "progress": {"aaa": "Preparing"}, "phase": "pushing"},
    {"phase": "ready", "message": "Done! Image built\n", "imageName": "r.example.org/b/img:abc"},
]
STREAM = (
    b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in EVENTS[:2])
    + b":keepalive\n\n"
    + b"data: not json at all\n\n"
    + b"".join(f"data: {json.dumps(e, ensure_ascii=False)}\n\n".encode() for e in EVENTS[2:])
)


def parse_in_pieces(data: bytes, cuts: list[int]) -> list[Event | Keepalive]:
    parser = EventStreamParser()
    items: list[Event | Keepalive] = []
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        items.extend(parser.feed(data[start:end]))
    return items


def summary(items: list[Event | Keepalive]) -> list[tuple[str, str]]:
    return [("keepalive", "") if isinstance(i, Keepalive) else (i.phase, i.message) for i in items]


EXPECTED = [
    ("waiting", "Waiting for build to start...\n"),
    ("fetching", "Picked Git content provider.\n"),
    ("keepalive", ""),
    ("unknown", "not json at all"),
    ("building", "Step 1/3 : FROM docker.io/library/buildpack-deps:jammy ünïcode ✓\n"),
    ("pushing", "Pushing image\n"),
    ("ready", "Done! Image built\n"),
]


def test_whole_stream_in_one_read() -> None:
    assert summary(parse_in_pieces(STREAM, [])) == EXPECTED


def test_every_two_way_split_gives_the_same_events() -> None:
    for cut in range(1, len(STREAM)):
        assert summary(parse_in_pieces(STREAM, [cut])) == EXPECTED, f"split at byte {cut}"


def test_one_byte_at_a_time_splits_multibyte_characters_too() -> None:
    assert summary(parse_in_pieces(STREAM, list(range(1, len(STREAM))))) == EXPECTED


def test_random_splits() -> None:
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(STREAM)), rng.randint(1, 30)))
        assert summary(parse_in_pieces(STREAM, cuts)) == EXPECTED


def test_crlf_line_endings() -> None:
    assert summary(parse_in_pieces(STREAM.replace(b"\n", b"\r\n"), [17, 101])) == EXPECTED


def test_sse_field_rules() -> None:
    data = (
        b"event: message\nid: 4\nretry: 100\n"  # fields BinderHub does not use
        b'data:{"phase": "building",\ndata:  "message": "x"}\n\n'  # no space, two data lines
        b": a comment\n\n"
        b"\n\n"  # blank lines alone dispatch nothing
        b"data: [1, 2]\n\n"  # JSON, but not an object
        b'data: {"phase": "Failure", "message": "boom"}\n\n'
    )
    items = parse_in_pieces(data, [])
    assert summary(items) == [
        ("building", "x"),
        ("keepalive", ""),
        ("unknown", "[1, 2]"),
        ("failed", "boom"),  # repo2docker's old "failure", any case, counts as failed
    ]
    assert items[1] is KEEPALIVE


def test_unfinished_event_at_the_end_is_not_dispatched() -> None:
    assert parse_in_pieces(b'data: {"phase": "ready"}\n', []) == []


def test_overlong_line_is_dropped_with_bounded_memory() -> None:
    parser = EventStreamParser(max_line_bytes=1000)
    items = parser.feed(b"data: " + b"x" * 600)
    items += parser.feed(b"y" * 600)  # now over the limit: forgotten, not buffered
    assert len(parser._partial) == 0
    items += parser.feed(b"z" * 5000)
    items += parser.feed(b'\n\ndata: {"phase": "building", "message": "next"}\n\n')
    assert [(i.phase, "dropped" in i.message) for i in items if isinstance(i, Event)] == [
        ("unknown", True),
        ("building", False),
    ]


def test_undecodable_bytes_become_a_log_line() -> None:
    (item,) = parse_in_pieces(b"data: \xff\xfe oops\n\n", [])
    assert isinstance(item, Event) and item.phase == "unknown" and "oops" in item.message


# ---- the tracker --------------------------------------------------------------


def feed(
    tracker: BuildTracker, events: list[dict[str, object] | None], step: float = 1.0
) -> Outcome | None:
    now = tracker.start
    outcome = None
    for data in events:
        now += step
        item = (
            KEEPALIVE
            if data is None
            else Event(str(data.get("phase", "unknown")), str(data.get("message", "")), dict(data))
        )
        outcome = tracker.observe(item, now)
        if outcome is not None:
            break
    return outcome


def test_phases_and_durations() -> None:
    tracker = BuildTracker(100.0)
    outcome = feed(
        tracker,
        [
            {"phase": "waiting", "message": "w"},
            {"phase": "fetching", "message": "f"},
            {"phase": "unknown", "message": "a log line does not change the phase"},
            {"phase": "building", "message": "b1"},
            None,  # keepalive: no activity
            {"phase": "building", "message": "b2"},
            {"phase": "pushing", "message": "Pushing image", "progress": {"l1": "Pushed"}},
            EVENTS[-1],
        ],
    )
    assert outcome == Outcome(ok=True, image="r.example.org/b/img:abc")
    assert tracker.phase_durations(200.0) == [
        {"phase": "waiting", "seconds": 1.0},
        {"phase": "fetching", "seconds": 2.0},
        {"phase": "building", "seconds": 3.0},
        {"phase": "pushing", "seconds": 1.0},
        {"phase": "ready", "seconds": 0.0},
    ]
    assert tracker.keepalives == 1 and tracker.events == 7
    assert tracker.last_activity == 108.0
    assert tracker.progress == {"l1": "Pushed"}


def test_cached_image() -> None:
    outcome = feed(
        BuildTracker(0.0),
        [{"phase": "ready", "imageName": "i:1", "message": "Done! Found built image\n"}],
    )
    assert outcome is not None and outcome.ok and outcome.cached


def test_built_means_binderhub_launches_and_is_a_failure() -> None:
    tracker = BuildTracker(0.0)
    outcome = feed(
        tracker, [{"phase": "built", "imageName": "i:1", "message": "Built image, launching...\n"}]
    )
    assert outcome is not None and not outcome.ok and outcome.verbatim
    assert "launching a server" in outcome.message


def test_ready_without_image_is_not_success() -> None:
    assert feed(BuildTracker(0.0), [{"phase": "ready", "message": "server running"}]) is None


def test_failures() -> None:
    outcome = feed(BuildTracker(0.0), [{"phase": "building", "message": "x"}, {"phase": "failed"}])
    assert outcome == Outcome(ok=False, message="the build failed", phase="building")
    outcome = feed(
        BuildTracker(0.0),
        [{"phase": "failed", "status_code": 403, "message": "Forbidden\n"}],
    )
    assert outcome == Outcome(ok=False, message="Forbidden", status_code=403)


def test_log_tail_is_bounded() -> None:
    tracker = BuildTracker(0.0)
    feed(tracker, [{"phase": "building", "message": f"line {n}\n"} for n in range(1000)])
    assert tracker.tail_lines() == [f"line {n}" for n in range(980, 1000)]


def test_layer_progress_text() -> None:
    rows = layer_progress(
        {
            "a": {"current": 26_200_000, "total": 52_400_000},
            "b": "Layer already exists",
            "c": {"current": 2048},
        }
    )
    assert rows == [("a", " 50% of 52.4 MB"), ("b", "Layer already exists"), ("c", "2.0 kB")]


# ---- explanations ---------------------------------------------------------------


REFUSAL = (
    "Building but not launching is not permitted when the API only mode was not enabled by "
    "setting `enable_api_only_mode` to True."
)


def test_build_only_refusal_is_recognised() -> None:
    assert is_build_only_refusal(Outcome(ok=False, message=REFUSAL, status_code=400))
    assert not is_build_only_refusal(
        Outcome(ok=False, message="Missing Accept header", status_code=400)
    )
    assert not is_build_only_refusal(Outcome(ok=False, message=REFUSAL))


def test_auth_explanations_name_the_scope() -> None:
    refused = Outcome(ok=False, message="Forbidden", status_code=403)
    no_token = explain_failure(refused, token_sent=False, service_name="binder")
    assert "no token was sent" in no_token and "access:services!service=binder" in no_token
    rejected = explain_failure(
        Outcome(ok=False, message="user alice is not allowed.", status_code=403), True, "binder"
    )
    assert "lacks the scope access:services!service=binder" in rejected
    assert "401" in explain_failure(
        Outcome(ok=False, message="Unauthorized", status_code=401), True, None
    )


def test_missing_accept_header_is_blamed_on_a_proxy() -> None:
    text = explain_failure(
        Outcome(ok=False, message="Missing Accept header: text/event-stream", status_code=400),
        False,
        None,
    )
    assert "proxy" in text and "Accept" in text


# ---- hostile text -------------------------------------------------------------------


def test_phase_names_that_are_no_names_become_log_lines() -> None:
    items = parse_in_pieces(
        b'data: {"phase": "\\u001b]0;owned\\u0007", "message": "m"}\n\n'
        b'data: {"phase": "BUILDING", "message": "m"}\n\n'
        b'data: {"phase": "custom-step_2", "message": "m"}\n\n'
        b'data: {"phase": "' + b"x" * 40 + b'", "message": "m"}\n\n',
        [],
    )
    assert [i.phase for i in items if isinstance(i, Event)] == [
        "unknown",
        "building",
        "custom-step_2",
        "unknown",
    ]


def test_the_tail_keeps_the_end_of_long_messages_and_cleans_its_lines() -> None:
    tracker = BuildTracker(0.0)
    feed(
        tracker,
        [
            {"phase": "building", "message": "\x1b[31mred\x1b[0m and \x1b]0;title\x07plain\n"},
            {"phase": "building", "message": "y" * 2_000_000 + "\nlast"},
        ],
    )
    assert sum(len(m) for m in tracker.tail) <= 8192 + 100
    assert tracker.tail_lines()[0] == "red and plain"
    assert tracker.tail_lines()[1].startswith("yyy") and tracker.tail_lines()[1].endswith(
        " characters)"
    )
    assert tracker.tail_lines()[-1] == "last"


def test_a_failure_line_is_the_error_and_not_also_in_the_tail() -> None:
    tracker = BuildTracker(0.0)
    outcome = feed(
        tracker,
        [
            {"phase": "building", "message": "Step 1/1\n"},
            {"phase": "failed", "message": "context line\nthe real error\n"},
        ],
    )
    assert outcome is not None and outcome.message == "the real error"
    assert tracker.tail_lines() == ["Step 1/1", "context line"]


def test_a_build_only_refusal_names_the_setting_to_change() -> None:
    refused = Outcome(ok=False, message=REFUSAL, status_code=400)
    text = explain_failure(refused, False, None)
    assert "set binderhub.api_only: true in bhsvc.yaml" in text
    assert "config.BinderHub.enable_api_only_mode: true" in text
    launching = explain_failure(refused, False, None, hub_launches=True)
    assert launching.endswith(
        "(hub.launch binderhub needs it off: BinderHub then starts "
        "servers for the hub, and verify cannot check it)"
    )


# ---- a refused push with Workload Identity's short-lived tokens ---------------------

PUSH_REFUSED = "unauthorized: authentication failed"


def test_the_phase_a_build_failed_in_is_kept() -> None:
    tracker = BuildTracker(0.0)
    outcome = feed(
        tracker,
        [
            {"phase": "building", "message": "Step 1/1\n"},
            {"phase": "pushing", "message": "Pushing image\n", "progress": {"a": "Preparing"}},
            {"phase": "failed", "message": f"{PUSH_REFUSED}\n"},
        ],
    )
    assert outcome is not None and outcome.phase == "pushing"
    assert is_push_auth_failure(outcome)


def test_a_refused_push_with_workload_identity_names_the_token_limit() -> None:
    refused = Outcome(ok=False, message=PUSH_REFUSED, phase="pushing")

    text = explain_failure(refused, False, None, keyless=True)

    assert text.startswith(f"the registry refused the build's push ({PUSH_REFUSED})")
    assert "lives at most an hour" in text
    assert "starting it again gets a new token" in text
    assert "roles/iam.workloadIdentityUser" in text
    # With a key the token limit does not apply: the plain failure.
    assert explain_failure(refused, False, None) == f"the build failed: {PUSH_REFUSED}"


def test_a_refused_login_before_the_push_counts_too() -> None:
    """repo2docker logs in just before it pushes, with the credentials BinderHub gave."""
    login = (
        'Error response from daemon: Get "https://europe-west10-docker.pkg.dev/v2/": denied: '
        "Unauthenticated request. Unauthenticated requests do not have permission "
        '"artifactregistry.repositories.uploadArtifacts" on resource'
    )
    refused = Outcome(ok=False, message=f"login failed: {login}", phase="building")
    assert "lives at most an hour" in explain_failure(refused, False, None, keyless=True)


def test_other_failures_are_not_blamed_on_the_token() -> None:
    for outcome in (
        Outcome(ok=False, message="returned a non-zero code: 1", phase="building"),
        Outcome(ok=False, message="no space left on device", phase="pushing"),
        Outcome(ok=False, message="Forbidden", status_code=403),  # BinderHub's refusal
    ):
        assert not is_push_auth_failure(outcome)
        assert "at most an hour" not in explain_failure(outcome, False, None, keyless=True)
