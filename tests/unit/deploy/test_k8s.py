"""deploy/k8s: the manifests parse, kustomize lists them, and probes, ports, selectors, the autoscaler,
the settings and the container commands agree with each other and with the project; the optional
overlay deploy/k8s-autoscale-on-lag (KEDA) replaces the CPU autoscaler and reads the scorers' lag."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from fraudcore.settings import Settings
from schemas.topics import Topics
from tests.unit.deploy.repo_files import (
    K8S_DIR,
    cpu_cores,
    image_reference,
    is_pinned,
    is_settings_variable,
    k8s_documents,
    k8s_object,
    k8s_objects,
    load_yaml,
    load_yaml_documents,
    memory_bytes,
    parse_command,
    project_version,
    setting_value,
    settings_env_names,
)

Mapping = dict[str, Any]

SCORER = "fraudstream-scorer"
TRAINER = "fraudstream-trainer"
# Variables MLflow's client reads itself (credentials of a tracking server behind basic auth).
MLFLOW_CLIENT_CREDENTIALS = {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"}
NEEDS = {
    SCORER: {"FRAUD_KAFKA_BOOTSTRAP", "FRAUD_REDIS_URL", "MLFLOW_TRACKING_URI"},
    TRAINER: {"FRAUD_KAFKA_BOOTSTRAP", "MLFLOW_TRACKING_URI"},
}


def _deployments() -> dict[str, Mapping]:
    return {doc["metadata"]["name"]: doc for doc in k8s_objects("Deployment")}


def _container(deployment: Mapping) -> Mapping:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "one container per pod"
    return dict(containers[0])


def _config_maps() -> dict[str, dict[str, str]]:
    return {
        doc["metadata"]["name"]: {str(k): str(v) for k, v in doc["data"].items()} for doc in k8s_objects("ConfigMap")
    }


def _container_env(container: Mapping) -> dict[str, str]:
    """The container's variables: its ConfigMaps' values, then its own (``<secret>`` for secret refs)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        assert name in _config_maps(), f"envFrom names ConfigMap {name!r}, which is not in deploy/k8s"
        env.update(_config_maps()[name])
    for variable in container.get("env", []):
        env[variable["name"]] = str(variable["value"]) if "value" in variable else "<secret>"
    return env


def _container_port(container: Mapping, port: int | str) -> int:
    """A probe's or a Service's port (a number or a port name) as the container's port number."""
    ports = {entry.get("name"): int(entry["containerPort"]) for entry in container.get("ports", [])}
    number = ports.get(port) if isinstance(port, str) else port
    assert number in ports.values(), f"port {port!r} is not a port of container {container['name']}"
    assert number is not None
    return number


# --- the files ----------------------------------------------------------------------------------


def test_every_manifest_parses_into_named_objects() -> None:
    assert k8s_documents(), "no manifest in deploy/k8s"
    for file_name, documents in k8s_documents().items():
        assert documents, f"{file_name} is empty"
        for document in documents:
            assert {"apiVersion", "kind", "metadata"} <= set(document), f"{file_name}: not a Kubernetes object"
            assert document["metadata"].get("name"), f"{file_name}: an object without a name"


def test_kustomization_lists_every_manifest_and_only_existing_ones() -> None:
    kustomization = load_yaml(K8S_DIR / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    listed = [str(resource) for resource in kustomization["resources"]]
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    on_disk = set(k8s_documents())
    assert on_disk <= set(listed), f"not listed in kustomization.yaml: {sorted(on_disk - set(listed))}"
    assert set(listed) <= on_disk, f"listed but missing: {sorted(set(listed) - on_disk)}"


def test_object_names_are_unique_per_kind() -> None:
    seen = [(doc["kind"], doc["metadata"]["name"]) for docs in k8s_documents().values() for doc in docs]
    assert len(seen) == len(set(seen))


# --- the workloads ------------------------------------------------------------------------------


def test_the_scorer_and_the_trainer_are_deployed() -> None:
    assert {SCORER, TRAINER} <= set(_deployments())
    assert int(_deployments()[SCORER]["spec"]["replicas"]) == 2
    trainer = _deployments()[TRAINER]["spec"]
    assert int(trainer["replicas"]) == 1, "two trainers would both promote"
    assert trainer["strategy"]["type"] == "Recreate", "a rolling update would run two trainers at once"


@pytest.mark.parametrize("name", [SCORER, TRAINER])
def test_the_image_is_pinned_to_the_project_version(name: str) -> None:
    image = str(_container(_deployments()[name])["image"])
    assert is_pinned(image)
    assert image_reference(image)[1] == project_version(), f"{image}, project version {project_version()}"
    kustomization = load_yaml(K8S_DIR / "kustomization.yaml")
    for override in kustomization.get("images", []):
        if override["name"] == image_reference(image)[0]:
            assert str(override.get("newTag", project_version())) == project_version()


@pytest.mark.parametrize(("name", "command"), [(SCORER, "score"), (TRAINER, "train")])
def test_the_container_runs_a_real_fraudstream_command(name: str, command: str) -> None:
    container = _container(_deployments()[name])
    assert "command" not in container, "the image's ENTRYPOINT (fraudstream) must stay"
    args = parse_command([str(arg) for arg in container["args"]])
    assert args.command == command
    if command == "train":
        assert not args.once, "the trainer must keep following the topics"


@pytest.mark.parametrize("name", [SCORER, TRAINER])
def test_resources_are_requested_and_limited(name: str) -> None:
    resources = _container(_deployments()[name]).get("resources", {})
    requests, limits = resources.get("requests", {}), resources.get("limits", {})
    for resource in ("cpu", "memory"):
        assert resource in requests, f"{name}: no {resource} request"
        assert resource in limits, f"{name}: no {resource} limit"
    assert cpu_cores(requests["cpu"]) <= cpu_cores(limits["cpu"])
    assert memory_bytes(requests["memory"]) <= memory_bytes(limits["memory"])


@pytest.mark.parametrize("name", [SCORER, TRAINER])
def test_pods_run_as_non_root(name: str) -> None:
    pod = _deployments()[name]["spec"]["template"]["spec"]
    container = _container(_deployments()[name])
    assert pod.get("securityContext", {}).get("runAsNonRoot") or container.get("securityContext", {}).get(
        "runAsNonRoot"
    )


def test_scorer_probes_ask_health_and_ready_on_its_web_port() -> None:
    container = _container(_deployments()[SCORER])
    web_port = int(setting_value(_container_env(container), "scorer_web_port"))
    liveness, readiness = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
    assert liveness["path"] == "/health"
    assert readiness["path"] == "/ready", "readiness must follow /ready (503 while Redis is down)"
    for probe in (liveness, readiness, container.get("startupProbe", {}).get("httpGet", liveness)):
        assert _container_port(container, probe["port"]) == web_port, f"probe on {probe['port']}, app on {web_port}"


def test_trainer_probes_ask_its_metrics_server() -> None:
    container = _container(_deployments()[TRAINER])
    env = _container_env(container)
    metrics_port = int(setting_value(env, "trainer_metrics_port"))
    assert setting_value(env, "metrics_host") == "0.0.0.0", "probes cannot reach 127.0.0.1"
    for kind in ("livenessProbe", "readinessProbe"):
        probe = container[kind]["httpGet"]
        assert probe["path"] == "/metrics", "the trainer serves only /metrics"
        assert _container_port(container, probe["port"]) == metrics_port


def test_the_scorer_listens_beyond_localhost() -> None:
    env = _container_env(_container(_deployments()[SCORER]))
    assert setting_value(env, "scorer_web_host") == "0.0.0.0", "probes cannot reach 127.0.0.1"


# --- settings and credentials -------------------------------------------------------------------


@pytest.mark.parametrize("name", [SCORER, TRAINER])
def test_every_variable_is_a_setting_or_an_mlflow_credential(name: str) -> None:
    env = _container_env(_container(_deployments()[name]))
    unknown = {var for var in env if is_settings_variable(var)} - settings_env_names()
    assert not unknown, f"{name}: no setting reads {sorted(unknown)}"
    others = {var for var in env if not is_settings_variable(var)} - MLFLOW_CLIENT_CREDENTIALS
    assert not others, f"{name}: variables nothing reads: {sorted(others)}"


@pytest.mark.parametrize("name", [SCORER, TRAINER])
def test_the_app_gets_the_addresses_it_needs(name: str) -> None:
    env = _container_env(_container(_deployments()[name]))
    missing = NEEDS[name] - set(env)
    assert not missing, f"{name} lacks {sorted(missing)}"


def test_the_redis_url_comes_from_a_secret() -> None:
    container = _container(_deployments()[SCORER])
    variables = {variable["name"]: variable for variable in container.get("env", [])}
    assert "secretKeyRef" in variables["FRAUD_REDIS_URL"].get("valueFrom", {}), "it may hold a password"
    for config in _config_maps().values():
        assert "FRAUD_REDIS_URL" not in config, "the Redis URL may hold a password: keep it in the Secret"


@pytest.mark.parametrize("config_map", sorted(_config_maps()))
def test_the_config_map_is_a_valid_configuration(config_map: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _config_maps()[config_map]
    unknown = {var for var in data if is_settings_variable(var)} - settings_env_names()
    assert not unknown, f"{config_map}: no setting reads {sorted(unknown)}"
    for variable, value in data.items():
        monkeypatch.setenv(variable, value)
    Settings()  # raises when a value is refused


# --- Services, autoscaler, disruption budget ----------------------------------------------------


def _pods_selected(selector: dict[str, str]) -> list[str]:
    return [
        name
        for name, deployment in _deployments().items()
        if selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    ]


def test_every_deployment_selects_its_own_pods() -> None:
    for name, deployment in _deployments().items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items(), name
        assert _pods_selected(selector) == [name], f"{name}'s selector also matches {_pods_selected(selector)}"


@pytest.mark.parametrize(("service", "deployment"), [(SCORER, SCORER), (TRAINER, TRAINER)])
def test_the_service_selects_the_pods_and_their_port(service: str, deployment: str) -> None:
    spec = k8s_object("Service", service)["spec"]
    assert _pods_selected(spec["selector"]) == [deployment]
    container = _container(_deployments()[deployment])
    for port in spec["ports"]:
        _container_port(container, port.get("targetPort", port["port"]))


@pytest.mark.parametrize(("service", "deployment"), [(SCORER, SCORER), (TRAINER, TRAINER)])
def test_the_service_is_annotated_for_prometheus(service: str, deployment: str) -> None:
    manifest = k8s_object("Service", service)
    annotations = manifest["metadata"].get("annotations", {})
    assert annotations.get("prometheus.io/scrape") == "true"
    assert annotations.get("prometheus.io/path", "/metrics") == "/metrics"
    container = _container(_deployments()[deployment])
    scraped = int(annotations["prometheus.io/port"])
    served = {_container_port(container, port.get("targetPort", port["port"])) for port in manifest["spec"]["ports"]}
    assert scraped in served, f"{service}: scrapes {scraped}, the pods serve {sorted(served)}"


def test_the_autoscaler_scales_the_scorer_on_cpu_up_to_the_partitions() -> None:
    autoscalers = k8s_objects("HorizontalPodAutoscaler")
    assert len(autoscalers) == 1
    hpa = autoscalers[0]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", SCORER)
    assert [metric["resource"]["name"] for metric in hpa["spec"]["metrics"] if metric["type"] == "Resource"] == ["cpu"]
    env = _container_env(_container(_deployments()[SCORER]))
    partitions = int(setting_value(env, "topic_partitions"))
    assert 1 <= int(hpa["spec"]["minReplicas"]) <= int(hpa["spec"]["maxReplicas"]) <= partitions, (
        f"more scorers than the {partitions} partitions would idle"
    )
    assert int(hpa["spec"]["minReplicas"]) <= int(_deployments()[SCORER]["spec"]["replicas"])
    requests = _container(_deployments()[SCORER])["resources"]["requests"]
    assert "cpu" in requests, "CPU utilisation is measured against the request"


def test_the_disruption_budget_covers_the_scorers() -> None:
    for budget in k8s_objects("PodDisruptionBudget"):
        assert _pods_selected(budget["spec"]["selector"]["matchLabels"]) == [SCORER]


# --- who may reach the pods ---------------------------------------------------------------------


def _policies_selecting(deployment: str) -> list[Mapping]:
    return [
        policy
        for policy in k8s_objects("NetworkPolicy")
        if deployment in _pods_selected(policy["spec"]["podSelector"].get("matchLabels", {}))
    ]


@pytest.mark.parametrize("name", [SCORER, TRAINER])
def test_a_network_policy_admits_only_named_pods_to_the_http_port(name: str) -> None:
    policies = _policies_selecting(name)
    assert policies, f"no NetworkPolicy selects {name}: every pod of the cluster reaches its port"
    container = _container(_deployments()[name])
    for policy in policies:
        spec = policy["spec"]
        assert _pods_selected(spec["podSelector"]["matchLabels"]) == [name], "one policy per workload"
        assert "Ingress" in spec.get("policyTypes", ["Ingress"])
        assert spec.get("ingress"), f"{policy['metadata']['name']}: no rule"
        for rule in spec["ingress"]:
            peers = rule.get("from")
            assert peers, "a rule without `from` admits everyone"
            for peer in peers:
                assert set(peer) == {"podSelector"}, f"only pods of the namespace by label, not {sorted(peer)}"
                assert peer["podSelector"].get("matchLabels"), "an empty podSelector admits every pod"
            assert rule.get("ports"), "a rule without ports opens them all"
            for port in rule["ports"]:
                assert port.get("protocol", "TCP") == "TCP"
                _container_port(container, port["port"])


def test_prometheus_may_scrape_and_labelled_clients_may_score() -> None:
    (policy,) = _policies_selecting(SCORER)
    peers = [peer["podSelector"]["matchLabels"] for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    assert {"app.kubernetes.io/name": "prometheus"} in peers
    assert {"fraudstream.io/scorer-client": "true"} in peers
    (trainer,) = _policies_selecting(TRAINER)
    assert [peer["podSelector"]["matchLabels"] for rule in trainer["spec"]["ingress"] for peer in rule["from"]] == [
        {"app.kubernetes.io/name": "prometheus"}
    ]


@pytest.mark.parametrize("name", [SCORER, TRAINER])
def test_the_services_stay_inside_the_cluster(name: str) -> None:
    assert k8s_object("Service", name)["spec"].get("type", "ClusterIP") == "ClusterIP"


def test_the_api_token_comes_from_a_secret() -> None:
    container = _container(_deployments()[SCORER])
    variables = {variable["name"]: variable for variable in container.get("env", [])}
    assert "FRAUD_API_TOKEN" in variables, "without it the scorers refuse every HTTP write"
    reference = variables["FRAUD_API_TOKEN"].get("valueFrom", {}).get("secretKeyRef", {})
    assert reference.get("name") == variables["FRAUD_REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"]
    assert reference.get("key")
    for config in _config_maps().values():
        assert "FRAUD_API_TOKEN" not in config, "the API token is a secret: keep it in the Secret"
    assert "FRAUD_API_TOKEN" not in _container_env(_container(_deployments()[TRAINER])), "the trainer serves no API"


# --- the optional autoscaling on consumer lag (KEDA) ----------------------------------------------

LAG_DIR = K8S_DIR.parent / "k8s-autoscale-on-lag"
KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}


def _lag_objects(kind: str) -> list[Mapping]:
    return [
        doc
        for path in sorted(LAG_DIR.glob("*.y*ml"))
        if path.name != "kustomization.yaml"
        for doc in load_yaml_documents(path)
        if doc["kind"] == kind
    ]


def _kafka_trigger() -> Mapping:
    (scaled,) = _lag_objects("ScaledObject")
    (trigger,) = [trigger for trigger in scaled["spec"]["triggers"] if trigger["type"] == "kafka"]
    return dict(trigger)


def test_the_lag_overlay_adds_keda_to_the_base_and_deletes_the_cpu_autoscaler() -> None:
    kustomization = load_yaml(LAG_DIR / "kustomization.yaml")
    assert kustomization["namespace"] == load_yaml(K8S_DIR / "kustomization.yaml")["namespace"]
    on_disk = {path.name for path in LAG_DIR.glob("*.y*ml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == {"../k8s"} | on_disk
    deleted = [yaml.safe_load(patch["patch"]) for patch in kustomization["patches"]]
    hpa = k8s_objects("HorizontalPodAutoscaler")[0]
    assert {
        "$patch": "delete",
        "apiVersion": hpa["apiVersion"],
        "kind": hpa["kind"],
        "metadata": {"name": hpa["metadata"]["name"]},
    } in deleted, "KEDA makes its own autoscaler: the CPU one must go, two would fight over the replicas"


def test_keda_scales_the_scorer_between_its_replicas_and_the_partitions_also_on_cpu() -> None:
    (scaled,) = _lag_objects("ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    target = spec["scaleTargetRef"]
    assert (target.get("apiVersion", "apps/v1"), target.get("kind", "Deployment"), target["name"]) == (
        "apps/v1",
        "Deployment",
        SCORER,
    )
    partitions = int(setting_value(_container_env(_container(_deployments()[SCORER])), "topic_partitions"))
    assert 1 <= int(spec["minReplicaCount"]) <= int(spec["maxReplicaCount"]) <= partitions
    assert int(spec["minReplicaCount"]) <= int(_deployments()[SCORER]["spec"]["replicas"])
    assert _kafka_trigger()["metadata"].get("allowIdleConsumers", "false") == "false"
    assert int(_kafka_trigger()["metadata"]["lagThreshold"]) > 0
    hpa = k8s_objects("HorizontalPodAutoscaler")[0]["spec"]
    (cpu,) = [trigger for trigger in spec["triggers"] if trigger["type"] == "cpu"]
    assert cpu["metricType"] == "Utilization"
    assert int(cpu["metadata"]["value"]) == hpa["metrics"][0]["resource"]["target"]["averageUtilization"]


def test_keda_reads_the_lag_of_the_scorers_group_on_their_transactions_topic() -> None:
    env = _container_env(_container(_deployments()[SCORER]))
    metadata = _kafka_trigger()["metadata"]
    assert metadata["bootstrapServers"] == setting_value(env, "kafka_bootstrap")
    assert metadata["consumerGroup"] == setting_value(env, "scorer_group")
    assert metadata["topic"] == Topics.with_prefix(env.get("FRAUD_TOPIC_PREFIX", "")).transactions
    protocol = setting_value(env, "kafka_security_protocol")
    mechanism = setting_value(env, "kafka_sasl_mechanism")
    assert metadata.get("sasl", "none") == (KEDA_SASL[mechanism] if protocol.startswith("SASL_") else "none")
    assert metadata.get("tls", "disable") == ("enable" if protocol in ("SSL", "SASL_SSL") else "disable")


def test_keda_authenticates_with_the_scorers_kafka_credentials() -> None:
    (authentication,) = _lag_objects("TriggerAuthentication")
    assert _kafka_trigger()["authenticationRef"]["name"] == authentication["metadata"]["name"]
    scorer_secrets = {
        variable["name"]: variable["valueFrom"]["secretKeyRef"]
        for variable in _container(_deployments()[SCORER]).get("env", [])
        if "secretKeyRef" in variable.get("valueFrom", {})
    }
    references = {ref["parameter"]: ref for ref in authentication["spec"]["secretTargetRef"]}
    for parameter, variable in (("username", "FRAUD_KAFKA_SASL_USERNAME"), ("password", "FRAUD_KAFKA_SASL_PASSWORD")):
        secret = scorer_secrets[variable]
        assert (references[parameter]["name"], references[parameter]["key"]) == (secret["name"], secret["key"])
    assert references["ca"]["name"] == scorer_secrets["FRAUD_KAFKA_SASL_USERNAME"]["name"]
