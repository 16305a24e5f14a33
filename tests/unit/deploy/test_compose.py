"""docker-compose.yml: pinned images, healthchecks and start-up order, Kafka listeners, and the settings,
addresses and commands of the fraudstream containers checked against the project itself."""

from __future__ import annotations

import fnmatch
import re
from importlib.metadata import version
from urllib.parse import urlparse

import pytest

from fraudcore.settings import Settings
from tests.unit.deploy.repo_files import (
    COMPOSE_FILE,
    COMPOSE_VARIABLES,
    GRAFANA_DIR,
    REPO,
    command_argv,
    compose_references,
    depends_on,
    environment,
    fraudstream_services,
    healthcheck_command,
    image_reference,
    interpolate,
    is_one_shot,
    is_pinned,
    is_settings_variable,
    load_yaml,
    option_value,
    parse_command,
    project_version,
    published_ports,
    raw_environment,
    services,
    setting_value,
    settings_env_names,
    volume_mounts,
)

INFRASTRUCTURE = ["kafka", "redis", "mlflow", "prometheus", "grafana"]
APPS = {"producer": "produce", "scorer": "score", "trainer": "train"}
KAFKA_LISTENERS = {"INTERNAL", "EXTERNAL", "CONTROLLER"}
KEYGEN = "model-keys"
"""The one-shot job that writes the model signing key pair: it talks to no service."""
SIGNERS = ["bootstrap-model", "trainer"]


def _listeners(text: str) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,...`` -> name: (host, port)."""
    parsed = {}
    for item in text.split(","):
        name, _, address = item.strip().partition("://")
        host, _, port = address.rpartition(":")
        parsed[name] = (host, int(port))
    return parsed


def _kafka_env() -> dict[str, str]:
    return environment(services()["kafka"])


# --- the services -------------------------------------------------------------------------------


def test_the_whole_stack_is_there() -> None:
    missing = {*INFRASTRUCTURE, *APPS} - set(services())
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


def test_the_apps_run_the_image_built_from_the_dockerfile() -> None:
    built = fraudstream_services()
    assert set(APPS) <= set(built), f"not built from the Dockerfile: {sorted(set(APPS) - set(built))}"
    for name, service in built.items():
        assert "entrypoint" not in service, f"{name}: the image's ENTRYPOINT (fraudstream) must stay"


@pytest.mark.parametrize("name", sorted(services()))
def test_every_image_is_pinned(name: str) -> None:
    service = services()[name]
    image = service.get("image")
    if image is None:
        assert "build" in service, f"{name}: neither an image nor a build"
        return
    assert is_pinned(str(image)), f"{name}: image {image!r} is not pinned to a release tag or digest"


def test_the_built_image_is_tagged_with_the_project_version() -> None:
    for name, service in fraudstream_services().items():
        if "image" in service:
            _, tag, _ = image_reference(str(service["image"]))
            assert tag == project_version(), f"{name}: tag {tag!r}, pyproject version {project_version()!r}"


def test_kafka_image_is_the_release_line_the_project_runs_locally() -> None:
    _, tag, _ = image_reference(str(services()["kafka"]["image"]))
    local = str(Settings.model_fields["kafka_version"].default)
    assert tag is not None
    assert tag.split(".")[:2] == local.split(".")[:2], f"compose runs Kafka {tag}, the local broker {local}"


def test_mlflow_server_is_the_release_line_of_the_locked_client() -> None:
    repository, tag, _ = image_reference(str(services()["mlflow"]["image"]))
    assert repository == "ghcr.io/mlflow/mlflow"
    assert tag is not None
    client = version("mlflow")
    assert tag.lstrip("v").split(".")[:2] == client.split(".")[:2], f"server {tag}, client {client}"


@pytest.mark.parametrize("name", sorted(services()))
def test_every_long_running_service_has_a_healthcheck(name: str) -> None:
    service = services()[name]
    if is_one_shot(service):
        return
    healthcheck = service.get("healthcheck") or {}
    assert not healthcheck.get("disable"), f"{name}: healthcheck disabled"
    test = healthcheck.get("test")
    assert isinstance(test, list), f"{name}: no healthcheck test"
    assert test[:1] in (["CMD"], ["CMD-SHELL"]), f"{name}: healthcheck {test!r}"


def test_one_shot_jobs_exist_only_to_be_waited_for() -> None:
    awaited = {
        target
        for service in services().values()
        for target, condition in depends_on(service).items()
        if condition == "service_completed_successfully"
    }
    one_shots = {name for name, service in services().items() if is_one_shot(service)}
    assert one_shots == awaited, f"one-shot jobs {sorted(one_shots)}, awaited to complete: {sorted(awaited)}"


@pytest.mark.parametrize("name", sorted(services()))
def test_every_dependency_names_a_service_and_a_fitting_condition(name: str) -> None:
    for target, condition in depends_on(services()[name]).items():
        assert target in services(), f"{name} depends on {target!r}, which is no service"
        assert target != name
        dependency = services()[target]
        if is_one_shot(dependency):
            assert condition == "service_completed_successfully", f"{name} -> {target}: {condition or 'no condition'}"
        else:
            assert condition == "service_healthy", f"{name} -> {target}: {condition or 'no condition'}"
            assert dependency.get("healthcheck"), f"{name} waits for {target} healthy, which has no healthcheck"


def test_the_dependencies_have_no_cycle() -> None:
    graph = {name: set(depends_on(service)) for name, service in services().items()}
    done: set[str] = set()
    while len(done) < len(graph):
        ready = {name for name, needs in graph.items() if name not in done and needs <= done}
        assert ready, f"a dependency cycle among {sorted(set(graph) - done)}"
        done |= ready


# --- Kafka --------------------------------------------------------------------------------------


def test_kafka_runs_kraft_with_internal_external_and_controller_listeners() -> None:
    env = _kafka_env()
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env.get("CLUSTER_ID"), "the apache/kafka image needs CLUSTER_ID in KRaft mode"
    listeners = _listeners(env["KAFKA_LISTENERS"])
    assert set(listeners) == KAFKA_LISTENERS
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(protocols) == set(listeners), "every listener needs a security protocol"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL"
    assert len({port for _, port in listeners.values()}) == len(listeners), "two listeners share a port"


def test_kafka_advertises_each_client_listener_where_it_listens() -> None:
    env = _kafka_env()
    kafka = services()["kafka"]
    listeners = _listeners(env["KAFKA_LISTENERS"])
    advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    assert set(advertised) == {"INTERNAL", "EXTERNAL"}, "advertise the client listeners, not the controller"
    for name, (_, port) in advertised.items():
        assert port == listeners[name][1], f"{name} advertised on {port}, listening on {listeners[name][1]}"
    internal_host, _ = advertised["INTERNAL"]
    assert internal_host in {"kafka", kafka.get("hostname")}, "containers must reach INTERNAL by the service name"
    external_host, external_port = advertised["EXTERNAL"]
    assert external_host in {"localhost", "127.0.0.1"}
    published = {(mapping.published, mapping.target) for mapping in published_ports(kafka)}
    assert (external_port, listeners["EXTERNAL"][1]) in published, "the EXTERNAL listener's port is not published"
    assert all(target != listeners["CONTROLLER"][1] for _, target in published), "do not publish the controller"


def test_kafka_quorum_voter_is_this_node_on_the_controller_listener() -> None:
    env = _kafka_env()
    node, _, address = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].partition("@")
    host, _, port = address.rpartition(":")
    assert node == env["KAFKA_NODE_ID"]
    assert host in {"kafka", services()["kafka"].get("hostname"), "localhost"}
    assert int(port) == _listeners(env["KAFKA_LISTENERS"])["CONTROLLER"][1]


def test_kafka_healthcheck_asks_a_client_listener() -> None:
    env = _kafka_env()
    check = healthcheck_command(services()["kafka"])
    ports = {port for name, (_, port) in _listeners(env["KAFKA_LISTENERS"]).items() if name != "CONTROLLER"}
    assert any(f":{port}" in check for port in ports), f"the healthcheck {check!r} asks no client listener"


# --- the fraudstream containers -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(fraudstream_services()))
def test_every_settings_variable_is_a_field_of_settings(name: str) -> None:
    unknown = {var for var in environment(services()[name]) if is_settings_variable(var)} - settings_env_names()
    assert not unknown, f"{name} sets variables no setting reads: {sorted(unknown)}"


@pytest.mark.parametrize("name", sorted(fraudstream_services()))
def test_every_container_environment_is_a_valid_configuration(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in environment(services()[name]).items():
        if is_settings_variable(variable):
            monkeypatch.setenv(variable, value)
    Settings()  # raises when a value is refused


@pytest.mark.parametrize("name", sorted(set(fraudstream_services()) - {KEYGEN}))
def test_every_app_reaches_kafka_redis_and_mlflow_by_their_compose_names(name: str) -> None:
    env = environment(services()[name])
    kafka_env = _kafka_env()
    internal_port = _listeners(kafka_env["KAFKA_LISTENERS"])["INTERNAL"][1]
    for server in env["FRAUD_KAFKA_BOOTSTRAP"].split(","):
        host, _, port = server.rpartition(":")
        assert host in services(), f"{name}: Kafka host {host!r} is no compose service"
        assert int(port) == internal_port, f"{name}: Kafka port {port}, the INTERNAL listener is {internal_port}"

    redis = urlparse(env["FRAUD_REDIS_URL"])
    assert redis.scheme == "redis", f"{name}: {env['FRAUD_REDIS_URL']}"
    assert redis.hostname in services(), f"{name}: {env['FRAUD_REDIS_URL']}"
    redis_port = int(option_value(command_argv(services()[redis.hostname]), "--port") or 6379)
    assert (redis.port or 6379) == redis_port

    mlflow = urlparse(env["MLFLOW_TRACKING_URI"])
    assert mlflow.scheme == "http", f"{name}: {env['MLFLOW_TRACKING_URI']}"
    assert mlflow.hostname in services(), f"{name}: {env['MLFLOW_TRACKING_URI']}"
    mlflow_argv = command_argv(services()[mlflow.hostname])
    assert mlflow.port == int(option_value(mlflow_argv, "--port") or 5000)
    allowed_hosts = (option_value(mlflow_argv, "--allowed-hosts") or "").split(",")
    host_header = f"{mlflow.hostname}:{mlflow.port}"
    assert any(fnmatch.fnmatch(host_header, pattern) for pattern in allowed_hosts), (
        f"MLflow's security middleware refuses the Host header {host_header!r} (--allowed-hosts)"
    )


@pytest.mark.parametrize("name", sorted(set(fraudstream_services()) - {KEYGEN}))
def test_every_app_waits_for_the_services_it_talks_to_be_healthy(name: str) -> None:
    env = environment(services()[name])
    targets = {server.rpartition(":")[0] for server in env["FRAUD_KAFKA_BOOTSTRAP"].split(",")}
    targets |= {str(urlparse(env[variable]).hostname) for variable in ("FRAUD_REDIS_URL", "MLFLOW_TRACKING_URI")}
    conditions = depends_on(services()[name])
    for target in targets:
        assert conditions.get(target) == "service_healthy", f"{name} does not wait for {target} to be healthy"


def test_the_scorers_wait_for_a_champion() -> None:
    awaited = {target for target, condition in depends_on(services()["scorer"]).items() if "completed" in condition}
    trainers = {target for target in awaited if command_argv(services()[target])[:1] == ["train"]}
    assert trainers, "a scorer refuses to start without a champion: wait for a job that trains one"
    for trainer in trainers:
        args = parse_command(command_argv(services()[trainer]))
        assert args.once, f"{trainer} must train once and exit"


@pytest.mark.parametrize("name", sorted(fraudstream_services()))
def test_every_app_command_is_a_real_fraudstream_command(name: str) -> None:
    argv = command_argv(services()[name])
    args = parse_command(argv)
    if name in APPS:
        assert args.command == APPS[name], f"{name} runs `fraudstream {args.command}`"


def test_the_long_running_apps_do_not_stop_on_their_own() -> None:
    assert not parse_command(command_argv(services()["trainer"])).once
    producer = parse_command(command_argv(services()["producer"]))
    assert producer.to_file is None, "the producer must send to Kafka"
    assert producer.from_file is None, "the live producer must simulate"
    assert producer.rate is not None, "the live producer must be paced"


def test_the_scorer_is_scalable() -> None:
    scorer = services()["scorer"]
    assert "container_name" not in scorer, "a fixed container name prevents --scale"
    assert not scorer.get("ports"), "a fixed host port prevents --scale"
    replicas = int(scorer.get("deploy", {}).get("replicas", 1))
    assert replicas >= 2
    partitions = int(setting_value(environment(scorer), "topic_partitions"))
    assert replicas <= partitions, f"{replicas} scorers for {partitions} partitions: some would idle"


METRICS = {
    # service: (interface setting, port setting, path its healthcheck asks)
    "scorer": ("scorer_web_host", "scorer_web_port", "/health"),
    "trainer": ("metrics_host", "trainer_metrics_port", "/metrics"),
    "producer": ("metrics_host", "producer_metrics_port", "/metrics"),
}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_metrics_servers_listen_on_every_interface(name: str) -> None:
    host_field, port_field, _ = METRICS[name]
    env = environment(services()[name])
    assert setting_value(env, host_field) == "0.0.0.0", f"{name}: Prometheus could not reach 127.0.0.1"
    assert setting_value(env, port_field)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_healthchecks_ask_the_port_the_app_listens_on(name: str) -> None:
    _, port_field, path = METRICS[name]
    service = services()[name]
    port = setting_value(environment(service), port_field)
    check = healthcheck_command(service)
    assert f":{port}{path}" in check, f"{name}: healthcheck {check!r}, the app listens on {port}{path}"
    assert "python" in check, "the slim image has no curl or wget: check with python"
    exposed = {str(item) for item in service.get("expose", [])}
    assert port in exposed, f"{name} does not expose {port}"


# --- MLflow, Prometheus and Grafana -------------------------------------------------------------


def test_mlflow_keeps_its_store_and_serves_its_artifacts_from_volumes() -> None:
    mlflow = services()["mlflow"]
    argv = command_argv(mlflow)
    assert argv[:2] == ["mlflow", "server"]
    assert "--serve-artifacts" in argv
    assert option_value(argv, "--host") == "0.0.0.0"
    store = option_value(argv, "--backend-store-uri") or ""
    artifacts = option_value(argv, "--artifacts-destination") or ""
    assert store.startswith(("sqlite:////", "postgresql")), f"backend store {store!r}"
    named_volumes = set(load_yaml(REPO / "docker-compose.yml").get("volumes") or {})
    mounts = volume_mounts(mlflow)
    for path in (store.removeprefix("sqlite:///"), artifacts):
        if not path.startswith("/"):
            continue
        covering = [target for target in mounts if path.startswith(target.rstrip("/") + "/") or path == target]
        assert covering, f"{path} is not on a volume: lost with the container"
        assert all(mounts[target] in named_volumes for target in covering)


def test_prometheus_reads_the_repository_scrape_config() -> None:
    prometheus = services()["prometheus"]
    mounts = volume_mounts(prometheus)
    config = option_value(command_argv(prometheus), "--config.file") or "/etc/prometheus/prometheus.yml"
    assert config in mounts, f"{config} is not mounted"
    assert (REPO / mounts[config]).resolve() == REPO / "deploy" / "prometheus" / "prometheus.yml"


def test_grafana_mounts_the_provisioning_and_the_dashboards() -> None:
    mounts = {target: (REPO / source).resolve() for target, source in volume_mounts(services()["grafana"]).items()}
    assert mounts.get("/etc/grafana/provisioning") == GRAFANA_DIR / "provisioning"
    dashboards = [target for target, source in mounts.items() if source == GRAFANA_DIR / "dashboards"]
    assert dashboards, "grafana/dashboards is not mounted"
    provider_file = GRAFANA_DIR / "provisioning" / "dashboards" / "dashboards.yml"
    assert provider_file.exists(), "the Grafana dashboards provider file is missing"
    paths = {provider["options"]["path"] for provider in load_yaml(provider_file)["providers"]}  # where it loads from
    assert paths <= set(dashboards), f"the dashboards provider loads {sorted(paths)}, mounted at {dashboards}"


def test_grafana_datasource_points_at_the_compose_prometheus() -> None:
    datasource_file = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
    assert datasource_file.exists(), "grafana/provisioning/datasources/prometheus.yml is missing"
    urls = [source["url"] for source in load_yaml(datasource_file)["datasources"] if source["type"] == "prometheus"]
    assert urls
    for url in urls:
        parsed = urlparse(url)
        assert parsed.hostname in services(), url
        assert parsed.port == 9090, url


# --- exposure and credentials -------------------------------------------------------------------

LOOPBACK = {"127.0.0.1", "::1", "[::1]"}


@pytest.mark.parametrize("name", sorted(services()))
def test_no_port_is_published_beyond_this_machine(name: str) -> None:
    service = services()[name]
    for entry in service.get("ports") or []:
        assert isinstance(entry, dict) or ":" in str(entry), f"{name}: {entry!r} publishes a random port everywhere"
    for mapping in published_ports(service):
        assert mapping.host_ip in LOOPBACK, f"{name}: port {mapping.published} is published on every interface"


def test_the_scorers_admin_surface_is_not_published() -> None:
    scorer = services()["scorer"]
    assert not scorer.get("ports"), "POST /reload and /score?record=true stay inside the compose network"
    assert "network_mode" not in scorer


def _required(text: str) -> set[str]:
    """The variables ``text`` requires (``${VAR:?message}``: no default, compose refuses to start)."""
    return {name for name, op, _ in compose_references(text) if op == ":?"}


def test_grafana_has_no_default_password_and_no_anonymous_access() -> None:
    env = raw_environment(services()["grafana"])
    password = env.get("GF_SECURITY_ADMIN_PASSWORD", "")
    assert _required(password) == {"GRAFANA_ADMIN_PASSWORD"}, f"the admin password is {password!r}: no default"
    assert interpolate(password, COMPOSE_VARIABLES) == COMPOSE_VARIABLES["GRAFANA_ADMIN_PASSWORD"]
    with pytest.raises(AssertionError, match="GRAFANA_ADMIN_PASSWORD"):
        interpolate(password, {})
    assert environment(services()["grafana"]).get("GF_AUTH_ANONYMOUS_ENABLED", "false") == "false"
    assert "GF_AUTH_ANONYMOUS_ORG_ROLE" not in env
    assert environment(services()["grafana"]).get("GF_USERS_ALLOW_SIGN_UP") == "false"


def test_prometheus_serves_no_lifecycle_or_admin_api() -> None:
    argv = command_argv(services()["prometheus"])
    for flag in ("--web.enable-lifecycle", "--web.enable-admin-api", "--web.enable-remote-write-receiver"):
        assert not any(part.startswith(flag) for part in argv), f"{flag}: anyone on the port could use it"


def test_redis_requires_the_password_every_app_authenticates_with() -> None:
    redis = services()["redis"]
    raw_argv = [str(part) for part in redis["command"]]
    assert _required(option_value(raw_argv, "--requirepass") or "") == {"REDIS_PASSWORD"}, "no requirepass"
    assert _required(raw_environment(redis).get("REDISCLI_AUTH", "")) == {"REDIS_PASSWORD"}, (
        "the healthcheck's redis-cli must authenticate"
    )
    assert "redis-cli" in healthcheck_command(redis)
    for name, service in fraudstream_services().items():
        env = raw_environment(service)
        if name == KEYGEN:
            assert not env, "the key generator needs no service and gets no settings"
            continue
        assert _required(env.get("FRAUD_REDIS_PASSWORD", "")) == {"REDIS_PASSWORD"}, f"{name} does not authenticate"
        assert urlparse(env["FRAUD_REDIS_URL"]).password is None, f"{name}: the password is in the URL as well"


def test_mlflow_has_auth_or_says_it_is_demo_only() -> None:
    argv = command_argv(services()["mlflow"])
    if option_value(argv, "--app-name") == "basic-auth":
        return
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    comments = re.findall(r"((?:^  #.*\n)+)  mlflow:\n    image:", text, re.MULTILINE)
    assert comments, "no comment right above the mlflow service"
    assert "demo only, no auth" in " ".join(comments[0].lower().split()), "say right above `mlflow:` it has no auth"


def test_the_scorers_get_the_api_token_from_the_environment_only() -> None:
    env = raw_environment(services()["scorer"])
    references = compose_references(env.get("FRAUD_API_TOKEN", ""))
    assert [(name, op) for name, op, _ in references] == [("FRAUD_API_TOKEN", ":-")], "no token in the file"
    assert interpolate(env["FRAUD_API_TOKEN"], {}) == "", "unset: an empty value, i.e. the writes refused"
    assert environment(services()["scorer"])["FRAUD_API_TOKEN"] == COMPOSE_VARIABLES["FRAUD_API_TOKEN"]


def test_no_secret_is_written_in_the_file() -> None:
    for name, service in services().items():
        for variable, value in raw_environment(service).items():
            if re.search(r"PASSWORD|TOKEN|SECRET|_AUTH$", variable):
                assert compose_references(value), f"{name}: {variable} is written in the file"


@pytest.mark.parametrize("name", sorted(fraudstream_services()))
def test_every_container_starts_without_an_api_token(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    without = {key: value for key, value in COMPOSE_VARIABLES.items() if key != "FRAUD_API_TOKEN"}
    for variable, value in environment(services()[name], without).items():
        if is_settings_variable(variable):
            monkeypatch.setenv(variable, value)
    assert Settings().api_tokens == ()


def test_only_the_trainers_get_the_private_signing_key_and_the_scorers_its_public_half() -> None:
    keygen = command_argv(services()[KEYGEN])
    private_dir, public_dir = option_value(keygen, "--dir"), option_value(keygen, "--public-dir")
    assert "--keep-existing" in keygen, "a second `up` must keep the key pair, not fail or replace it"
    mounts = {name: {target: source for source, target in _mounts(service)} for name, service in services().items()}
    private_volume, public_volume = mounts[KEYGEN][str(private_dir)], mounts[KEYGEN][str(public_dir)]
    for name in SIGNERS:
        env = environment(services()[name])
        assert str(env["FRAUD_MODEL_SIGNING_KEY"]).startswith(f"{private_dir}/"), name
        assert mounts[name].get(str(private_dir)) == private_volume, name
        assert depends_on(services()[name]).get(KEYGEN) == "service_completed_successfully" or name == "trainer"
    scorer = environment(services()["scorer"])
    assert "FRAUD_MODEL_SIGNING_KEY" not in scorer
    assert str(scorer["FRAUD_MODEL_VERIFY_KEYS"]).startswith(f"{public_dir}/")
    assert mounts["scorer"].get(str(public_dir)) == public_volume
    holders = {name for name, mounted in mounts.items() if private_volume in mounted.values()}
    assert holders == {KEYGEN, *SIGNERS}, f"the private key volume is mounted by {sorted(holders)}"


def _mounts(service: dict[str, object]) -> list[tuple[str, str]]:
    """``(volume, path)`` of each ``volume:path[:mode]`` mount of ``service``."""
    mounts = []
    for entry in service.get("volumes", []) or []:  # type: ignore[attr-defined]
        source, target = str(entry).split(":")[:2]
        mounts.append((source, target))
    return mounts
