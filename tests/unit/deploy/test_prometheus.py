"""deploy/prometheus/prometheus.yml: every scorer replica, the trainer and the producer are scraped where
the compose file makes them listen."""

from __future__ import annotations

from typing import Any

from tests.unit.deploy.repo_files import PROMETHEUS_FILE, environment, load_yaml, services, setting_value

Mapping = dict[str, Any]


def _jobs() -> dict[str, Mapping]:
    config = load_yaml(PROMETHEUS_FILE)
    jobs = {str(job["job_name"]): job for job in config["scrape_configs"]}
    assert len(jobs) == len(config["scrape_configs"]), "two scrape jobs share a name"
    return jobs


def _static_targets(job: Mapping) -> list[str]:
    return [str(target) for static in job.get("static_configs", []) for target in static["targets"]]


def _port(service: str, field: str) -> int:
    return int(setting_value(environment(services()[service]), field))


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in sorted(units, key=len, reverse=True):
        if duration.endswith(unit):
            return float(duration[: -len(unit)]) * units[unit]
    raise AssertionError(f"not a duration: {duration!r}")


def test_scrapes_every_five_seconds_or_faster() -> None:
    config = load_yaml(PROMETHEUS_FILE)
    default = str(config.get("global", {}).get("scrape_interval", "1m"))
    for name, job in _jobs().items():
        assert _seconds(str(job.get("scrape_interval", default))) <= 5, f"job {name} scrapes too rarely"


def test_every_scorer_replica_is_found_by_dns_on_the_web_port() -> None:
    job = _jobs()["scorer"]
    assert not job.get("static_configs"), "a static target would scrape only one replica"
    lookups = job["dns_sd_configs"]
    assert lookups, "the scorer job needs DNS service discovery"
    for lookup in lookups:
        assert lookup.get("type", "SRV") == "A", "compose DNS answers A records"
        assert set(lookup["names"]) <= set(services()), f"{lookup['names']} are not compose services"
        assert "scorer" in lookup["names"]
        assert int(lookup["port"]) == _port("scorer", "scorer_web_port")
    assert job.get("metrics_path", "/metrics") == "/metrics"


def test_the_trainer_and_the_producer_are_scraped_on_their_metrics_ports() -> None:
    jobs = _jobs()
    assert _static_targets(jobs["trainer"]) == [f"trainer:{_port('trainer', 'trainer_metrics_port')}"]
    assert _static_targets(jobs["producer"]) == [f"producer:{_port('producer', 'producer_metrics_port')}"]


def test_every_static_target_is_a_compose_service_that_exposes_the_port() -> None:
    for name, job in _jobs().items():
        for target in _static_targets(job):
            host, _, port = target.rpartition(":")
            if host == "localhost":  # Prometheus itself
                continue
            assert host in services(), f"job {name}: {host!r} is no compose service"
            exposed = {str(item) for item in services()[host].get("expose", [])}
            assert port in exposed, f"job {name}: {host} does not expose {port}"
