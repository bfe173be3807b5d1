"""deploy/k8s, checked offline: core kinds against the Kubernetes API schemas (strict), CRD
examples for the fields their controllers require, and agreement with the image and the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from authsvc.settings import Settings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.31"
IDENTITY_HEADERS = ["X-Auth-Request-User", "X-Auth-Request-Email", "X-Auth-Request-Roles"]


def documents(name: str) -> list[dict[str, Any]]:
    with (K8S / name).open(encoding="utf-8") as file:
        return [doc for doc in yaml.safe_load_all(file) if doc]


def by_kind() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in documents(path.name):
            found[doc["kind"]] = doc
    return found


CORE_FILES = [
    "deployment.yaml",
    "service.yaml",
    "hpa.yaml",
    "pdb.yaml",
    "ingress-nginx-example.yaml",
]


@pytest.mark.parametrize("name", CORE_FILES)
def test_core_kinds_validate_strictly_against_the_api_schema(name: str) -> None:
    for doc in documents(name):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_existing_files_and_every_base_manifest() -> None:
    (kustomization,) = documents("kustomization.yaml")
    resources = kustomization["resources"]
    assert all((K8S / name).is_file() for name in resources)
    assert set(resources) == {
        "deployment.yaml",
        "service.yaml",
        "hpa.yaml",
        "pdb.yaml",
        "servicemonitor.yaml",
    }


def test_deployment_is_hardened_and_probes_the_right_endpoints() -> None:
    deployment = by_kind()["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "preStop" in container["lifecycle"]
    assert "limits" in container["resources"]
    assert "requests" in container["resources"]
    default_port = int(Settings.from_environ({"AUTHORIZER_URL": "http://a"}).bind.rsplit(":")[1])
    assert container["ports"][0]["containerPort"] == default_port
    env = {item["name"] for item in container["env"]}
    assert "AUTHORIZER_URL" in env


def test_service_hpa_pdb_and_monitor_all_select_the_deployment() -> None:
    kinds = by_kind()
    labels = kinds["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert kinds["Service"]["spec"]["selector"].items() <= labels.items()
    assert kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == "authsvc"
    monitor = kinds["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    port_names = {port["name"] for port in kinds["Service"]["spec"]["ports"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in port_names
    assert endpoint["path"] == "/metrics"


def test_deployment_leaves_its_replica_count_to_the_hpa() -> None:
    """A spec.replicas would reset the HPA's count on every `kubectl apply -k`."""
    kinds = by_kind()
    deployment, hpa = kinds["Deployment"], kinds["HorizontalPodAutoscaler"]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"]
    assert hpa["spec"]["minReplicas"] >= 2  # one pod draining must not leave none


def test_ingress_nginx_example_asks_verify_and_passes_the_identity_headers() -> None:
    app, login = documents("ingress-nginx-example.yaml")
    annotations = app["metadata"]["annotations"]
    assert "/verify" in annotations["nginx.ingress.kubernetes.io/auth-url"]
    headers = annotations["nginx.ingress.kubernetes.io/auth-response-headers"].split(",")
    assert headers == IDENTITY_HEADERS
    # Browsers sent to sign in reach authsvc's /login through the second Ingress.
    signin = urlsplit(annotations["nginx.ingress.kubernetes.io/auth-signin"])
    (rule,) = login["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert (signin.hostname, signin.path) == (rule["host"], path["path"])
    assert path["backend"]["service"]["name"] == documents("service.yaml")[0]["metadata"]["name"]


def test_traefik_middleware_example_has_what_forwardauth_requires() -> None:
    middleware = by_kind()["Middleware"]
    assert middleware["apiVersion"] == "traefik.io/v1alpha1"
    forward = middleware["spec"]["forwardAuth"]
    assert "/verify" in forward["address"]
    # X-Auth-Request-Error too: authsvc never sets it on an allow, so a client's copy goes.
    assert forward["authResponseHeaders"] == [*IDENTITY_HEADERS, "X-Auth-Request-Error"]
    assert forward["trustForwardHeader"] is False
    route = by_kind()["IngressRoute"]
    assert route["spec"]["routes"][0]["middlewares"] == [{"name": "authsvc"}]
    assert "websecure" in route["spec"]["entryPoints"]
    assert isinstance(route["spec"].get("tls"), dict), "a route on websecure needs tls"


def test_traefik_middleware_example_names_the_entry_point_hardening_of_traefik_env() -> None:
    """Every entry-point http.* option deploy/traefik/traefik.env sets on `web`, with its
    value, appears in the example's Helm flags and environment-variable form for `websecure`."""
    example = (K8S / "traefik-middleware-example.yaml").read_text(encoding="utf-8").lower()
    env = (K8S.parent / "traefik" / "traefik.env").read_text(encoding="utf-8")
    prefix = "TRAEFIK_ENTRYPOINTS_WEB_HTTP_"
    options = [line for line in env.splitlines() if line.startswith(prefix)]
    assert len(options) == 8  # aliasHeadersStrategy and seven encodedCharacters options
    # "#     - --entrypoints.websecure.http.x=y" lines, without the comment and list marks
    flags = {line.lstrip("# -") for line in example.splitlines() if "- --entrypoints." in line}
    for line in options:
        name, value = line.removeprefix(prefix).lower().split("=")
        assert f"entrypoints.websecure.http.{name.replace('_', '.')}={value}" in flags, name
    assert "traefik_entrypoints_websecure_http_aliasheadersstrategy=delete" in example
