"""The worker is built in-process from a config object, a policy and a codec: no environment, no broker."""

from __future__ import annotations

from pathlib import Path

from schemas.codec import EmbeddedCodec
from schemas.topics import (
    ALERT_TOPICS,
    CHARGER_EVENTS,
    SESSIONS,
    dlq,
    faults_by_model,
    faults_by_site,
    worker_changelog,
    worker_topics,
)
from streams.config import WorkerConfig
from streams.policy import Policy
from streams.worker import build_worker


def test_build_worker_from_a_config(tmp_path: Path) -> None:
    config = WorkerConfig(
        worker_id="built-in-a-test", bootstrap="127.0.0.1:1", partitions=5, data_dir=tmp_path, run_dir=None
    )
    policy = Policy()
    worker = build_worker(config, policy, EmbeddedCodec())
    app = worker.app
    assert app.conf.id == "built-in-a-test" and app.conf.broker[0].port == 1
    assert worker.policy is policy and worker.config is config
    assert [a.name for a in app.agents.values()] == [
        "sessions",
        "sites",
        "models",
        "feedback",
        "resolutions",
        "maintenance",
    ]
    assert worker.by_site.get_topic_name() == faults_by_site(config.worker_id)
    assert worker.by_model.get_topic_name() == faults_by_model(config.worker_id)
    assert {s.name for s in worker_topics(config.worker_id)} >= {
        t.changelog_topic.get_topic_name() for t in (worker.stations, worker.sites, worker.models)
    }
    assert {t.get_topic_name() for t in (worker.events, worker.sessions, worker.events_dlq)} == {
        CHARGER_EVENTS,
        SESSIONS,
        dlq(CHARGER_EVENTS),
    }
    assert {name: t.get_topic_name() for name, t in worker.alerts.items()} == {t: t for t in ALERT_TOPICS}
    assert worker.stations.changelog_topic.get_topic_name() == worker_changelog(config.worker_id).name
    assert worker.stations.partitions == 5
    # no readiness timer without a run dir; the flush and fault-clock timers always (Faust lists
    # timers as app tasks)
    assert sorted(t.__name__ for t in app._app_tasks) == ["advance_silent_stations", "flush_silent_stations"]


def test_two_workers_in_one_process_do_not_share_state(tmp_path: Path) -> None:
    a = build_worker(
        WorkerConfig("w-a", "127.0.0.1:1", 3, tmp_path / "a", run_dir=tmp_path), Policy(), EmbeddedCodec()
    )
    b = build_worker(WorkerConfig("w-b", "127.0.0.1:1", 3, tmp_path / "b"), Policy(), EmbeddedCodec())
    a.waiting["ST"] = (0.0, 0, 0, 0)
    assert b.waiting == {} and a.app is not b.app
    assert len(a.app._app_tasks) == 3  # flush, fault clock, readiness
