#!/usr/bin/env python3
"""Offline validation of the deployment files: deploy/k8s/*.yaml, docker-compose.yml and the Dockerfile.

    python deploy/validate.py

No cluster and no Docker engine are needed (nor used): the files are parsed and checked against the rules
the deployment relies on. Only the standard library, PyYAML and jsonschema are used.

Kubernetes manifests
  * every document has apiVersion, kind, metadata.name (and metadata.namespace: jingzhun);
  * Deployments: liveness (and startup) GET /healthz, readiness GET /readyz on a declared port, CPU/memory
    requests and limits, runAsNonRoot, readOnlyRootFilesystem, allowPrivilegeEscalation: false,
    capabilities drop ALL, Prometheus scrape annotations for /metrics, the documented uvicorn command and
    client id; the gateway has >= 2 replicas; the migration Job has the same security and resources;
  * production wiring: ENVIRONMENT=production, the gateway's private key mounted from a Secret at
    /var/run/secrets/jingzhun/private.pem, the services' JWT_JWKS_URL pointing at the gateway;
  * every environment variable a container receives (env and envFrom) is in the documented list;
  * references resolve: ConfigMap/Secret names and keys (Secrets from secret.example.yaml), volumes, Service
    selectors and ports, Ingress backends, HPA and PDB targets;
  * NetworkPolicy: the three services admit only the gateway and each other; the gateway admits anyone;
  * kustomization.yaml lists every manifest except secret.example.yaml, whose values are placeholders.

docker-compose.yml
  * structure validated against a minimal embedded JSON schema (services with image/build, ports as strings,
    depends_on, environment, healthcheck), then: dependencies exist, environment variable names are in the
    documented list, commands, /readyz health checks, the one-shot keys and migrate services, the databases.

Exit status: 0 when everything passes, 1 when problems were found, 2 when the tools are missing.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import jsonschema
    import yaml
except ImportError as exc:  # pragma: no cover - depends on the environment
    print(f"error: {exc.name} is required: pip install pyyaml jsonschema", file=sys.stderr)
    sys.exit(2)

ROOT = Path(__file__).resolve().parent.parent
K8S_DIR = ROOT / "deploy" / "k8s"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
INIT_SQL = ROOT / "deploy" / "compose" / "init-databases.sql"

NAMESPACE = "jingzhun"
EXAMPLE_SECRETS_FILE = "secret.example.yaml"
PLACEHOLDER_MARK = "REPLACE_ME"

#: The complete list of environment variables the application reads (see the project documentation).
ALLOWED_ENV = frozenset(
    {
        "ENVIRONMENT",
        "LOG_LEVEL",
        "DATABASE_URL",
        "GATEWAY_DATABASE_URL",
        "REGISTRY_DATABASE_URL",
        "PLANNING_DATABASE_URL",
        "ASSESSMENT_DATABASE_URL",
        "REDIS_URL",
        "JWT_ISSUER",
        "JWT_PRIVATE_KEY_FILE",
        "JWT_JWKS_FILE",
        "JWT_JWKS_URL",
        "REGISTRY_URL",
        "PLANNING_URL",
        "ASSESSMENT_URL",
        "GATEWAY_URL",
        "SERVICE_CLIENT_ID",
        "SERVICE_CLIENT_SECRET",
        "SERVICE_CLIENT_SECRET_FILE",
        "CORS_ORIGINS",
        "MAX_JSON_BODY_BYTES",
        "RATE_LIMIT_PER_MINUTE",
        "RATE_LIMIT_MACHINE_PER_MINUTE",
        "RATE_LIMIT_OVERRIDES",
        "ROUTE_TIMEOUTS",
        "REDIS_KEY_PREFIX",
        "READ_DATABASE_URL",
        "REGISTRY_READ_DATABASE_URL",
        "PLANNING_READ_DATABASE_URL",
        "ASSESSMENT_READ_DATABASE_URL",
        "PII_KEYS_FILE",
        "REGISTRY_RUN_WORKER",
        "REGISTRY_JOB_CONCURRENCY",
        "REGISTRY_WEBHOOK_KEY",
        "REGISTRY_WEBHOOK_ALLOW_PRIVATE_NETWORKS",
        "READ_POOL_SIZE",
        "TRUSTED_PROXIES",
    }
)


@dataclass(frozen=True)
class Process:
    factory: str
    port: int


#: The HTTP processes, all from one image.
PROCESSES = {
    "gateway": Process("gateway.main:create_app", 8000),
    "registry": Process("services.registry.main:create_app", 8001),
    "planning": Process("services.planning.main:create_app", 8002),
    "assessment": Process("services.assessment.main:create_app", 8003),
}
SERVICES = ("registry", "planning", "assessment")
#: Queue workers (no HTTP): their command and the service whose settings, database and keys they use.
WORKERS = {"registry-worker": (["python", "-m", "services.registry.worker"], "registry")}
DATABASES = tuple(f"jingzhun_{name}" for name in PROCESSES)
UVICORN_FLAGS = (
    ("--no-server-header",),
    ("--loop", "uvloop"),
    ("--http", "shared.httpserver:ProblemHttpToolsProtocol"),  # problem+json for uvicorn's own 400s
)
#: The gateway reads X-Forwarded-For itself, only from its TRUSTED_PROXIES (gateway/forwarded.py): uvicorn must not
#: rewrite the client address first. The services, reached only through the gateway, take its forwarded headers.
GATEWAY_FACTORY = "gateway.main:create_app"
MIGRATE_COMMAND = ["python", "-m", "ops.cli", "migrate"]
GEN_KEYS_COMMAND = ["python", "-m", "ops.cli", "gen-keys", "--out", "/keys"]
PRIVATE_KEY_PATH = "/var/run/secrets/jingzhun/private.pem"
JWKS_URL = "http://gateway:8000/.well-known/jwks.json"
COMPONENT_LABEL = "app.kubernetes.io/component"

# Kinds that live outside a namespace, and documents that are not cluster objects.
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass", "StorageClass"}
NOT_OBJECTS = {"Kustomization"}


# --------------------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------------------


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    checked: list[tuple[str, bool]] = field(default_factory=list)

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def mark(self) -> int:
        return len(self.errors)

    def done(self, what: str, mark: int) -> None:
        """Record `what` as checked: passed when no error was reported since `mark`."""
        self.checked.append((what, len(self.errors) == mark))


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------------------
# YAML loading (duplicate keys are an error: PyYAML would silently keep the last one)
# --------------------------------------------------------------------------------------------------------


class StrictLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    pass


def _construct_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # keys from `<<: *anchor` may be overridden on purpose
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=deep))


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_documents(path: Path, report: Report) -> list[Any]:
    try:
        return [doc for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=StrictLoader)]
    except (OSError, yaml.YAMLError) as exc:
        report.error(rel(path), f"cannot parse: {exc}")
        return []


# --------------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------------


def get(obj: Any, *path: str) -> Any:
    """obj[path[0]][path[1]]... or None when any step is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def command_words(value: Any) -> list[str]:
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in as_list(value)]


def has_sequence(words: list[str], sequence: Iterable[str]) -> bool:
    seq = list(sequence)
    return any(words[i : i + len(seq)] == seq for i in range(len(words) - len(seq) + 1))


def check_uvicorn_command(where: str, words: list[str], process: Process, report: Report) -> None:
    if not words or words[0] != "uvicorn":
        report.error(where, f"command must start with uvicorn, got {' '.join(words)!r}")
        return
    # Containers must listen on all interfaces to be reachable through their Service / published port.
    required_options = (("--factory", process.factory), ("--host", "0.0.0.0"), ("--port", str(process.port)))  # noqa: S104
    for required in required_options:
        if not has_sequence(words, required):
            report.error(where, f"command lacks {' '.join(required)!r}")
    for flag in UVICORN_FLAGS:
        if not has_sequence(words, flag):
            report.error(where, f"command lacks uvicorn flag {' '.join(flag)!r}")
    if process.factory == GATEWAY_FACTORY:
        if "--no-proxy-headers" not in words:
            report.error(
                where, "the gateway's command lacks '--no-proxy-headers' (set TRUSTED_PROXIES instead)"
            )
        for word in words:
            if word == "--proxy-headers" or word.startswith("--forwarded-allow-ips"):
                report.error(where, f"the gateway must not let uvicorn trust forwarded headers ({word!r})")
    elif "--proxy-headers" not in words:
        report.error(where, "command lacks uvicorn flag '--proxy-headers'")


def selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels + matchExpressions); {} selects everything."""
    if not isinstance(selector, dict):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in as_list(selector.get("matchExpressions")):
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


# --------------------------------------------------------------------------------------------------------
# Kubernetes
# --------------------------------------------------------------------------------------------------------


@dataclass
class K8sObject:
    path: Path
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind"))

    @property
    def name(self) -> str:
        return str(get(self.doc, "metadata", "name"))

    @property
    def where(self) -> str:
        return f"{rel(self.path)}: {self.kind}/{self.name}"


class Cluster:
    """Every object parsed from deploy/k8s, indexed for cross-references."""

    def __init__(self, objects: list[K8sObject]) -> None:
        self.objects = objects

    def of_kind(self, kind: str) -> Iterator[K8sObject]:
        return (o for o in self.objects if o.kind == kind)

    def find(self, kind: str, name: str) -> K8sObject | None:
        return next((o for o in self.of_kind(kind) if o.name == name), None)

    def config_data(self, kind: str, name: str) -> dict[str, Any] | None:
        """Data of a ConfigMap or Secret (data + stringData), or None if there is no such object."""
        obj = self.find(kind, name)
        if obj is None:
            return None
        data: dict[str, Any] = {}
        data.update(obj.doc.get("data") or {})
        data.update(obj.doc.get("stringData") or {})
        return data


def load_k8s(report: Report) -> tuple[list[K8sObject], dict[str, Any] | None]:
    objects: list[K8sObject] = []
    kustomization: dict[str, Any] | None = None
    files = sorted(p for p in K8S_DIR.iterdir() if p.suffix in (".yaml", ".yml"))
    if not files:
        report.error(rel(K8S_DIR), "no YAML files found")
    for path in files:
        for index, doc in enumerate(load_documents(path, report)):
            where = f"{rel(path)}: document {index + 1}"
            if doc is None:
                continue
            if not isinstance(doc, dict):
                report.error(where, "not a mapping")
                continue
            for key in ("apiVersion", "kind"):
                if not isinstance(doc.get(key), str) or not doc[key]:
                    report.error(where, f"missing {key}")
            if not isinstance(get(doc, "metadata", "name"), str) or not get(doc, "metadata", "name"):
                report.error(where, "missing metadata.name")
                continue
            if doc.get("kind") == "Kustomization":
                kustomization = doc
                continue
            obj = K8sObject(path, doc)
            namespace = get(doc, "metadata", "namespace")
            if obj.kind in CLUSTER_SCOPED:
                if namespace is not None:
                    report.error(obj.where, "cluster-scoped object must not set metadata.namespace")
            elif namespace != NAMESPACE:
                report.error(obj.where, f"metadata.namespace must be {NAMESPACE!r}, got {namespace!r}")
            objects.append(obj)
    return objects, kustomization


def check_pod_security(where: str, pod: dict[str, Any], report: Report) -> None:
    pod_sc = pod.get("securityContext") or {}
    if pod_sc.get("runAsNonRoot") is not True:
        report.error(where, "pod securityContext.runAsNonRoot must be true")
    if pod_sc.get("runAsUser") == 0:
        report.error(where, "pod securityContext.runAsUser must not be 0")
    for container in as_list(pod.get("initContainers")) + as_list(pod.get("containers")):
        cwhere = f"{where}: container {container.get('name')}"
        sc = container.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            report.error(cwhere, "securityContext.readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            report.error(cwhere, "securityContext.allowPrivilegeEscalation must be false")
        if "ALL" not in as_list(get(sc, "capabilities", "drop")):
            report.error(cwhere, "securityContext.capabilities.drop must include ALL")
        if as_list(get(sc, "capabilities", "add")):
            report.error(cwhere, "securityContext.capabilities.add must be empty")
        if sc.get("privileged") is True:
            report.error(cwhere, "must not be privileged")
        if sc.get("runAsNonRoot") is False or (
            sc.get("runAsNonRoot") is None and pod_sc.get("runAsNonRoot") is not True
        ):
            report.error(cwhere, "runAsNonRoot must be true (pod or container securityContext)")
        if sc.get("runAsUser") == 0:
            report.error(cwhere, "securityContext.runAsUser must not be 0")
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if get(container, "resources", kind, resource) in (None, ""):
                    report.error(cwhere, f"resources.{kind}.{resource} is missing")
        if not container.get("image"):
            report.error(cwhere, "image is missing")


def container_environment(
    where: str, container: dict[str, Any], cluster: Cluster, report: Report
) -> dict[str, str | None]:
    """Every variable the container receives -> its literal value (None when it comes from a Secret or
    a field reference). Reports unknown names and unresolvable references."""
    env: dict[str, str | None] = {}
    for source in as_list(container.get("envFrom")):
        prefix = source.get("prefix") or ""
        for kind, ref_key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = source.get(ref_key)
            if ref is None:
                continue
            data = cluster.config_data(kind, str(ref.get("name")))
            if data is None:
                if not ref.get("optional"):
                    report.error(where, f"envFrom refers to unknown {kind} {ref.get('name')!r}")
                continue
            for key, value in data.items():
                env[prefix + key] = str(value) if kind == "ConfigMap" else None
    for var in as_list(container.get("env")):
        name = var.get("name")
        if "value" in var:
            env[name] = None if var["value"] is None else str(var["value"])
            continue
        env[name] = None
        value_from = var.get("valueFrom") or {}
        for kind, ref_key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
            ref = value_from.get(ref_key)
            if ref is None:
                continue
            data = cluster.config_data(kind, str(ref.get("name")))
            if data is None:
                report.error(where, f"env {name}: unknown {kind} {ref.get('name')!r}")
            elif ref.get("key") not in data:
                report.error(where, f"env {name}: {kind} {ref.get('name')!r} has no key {ref.get('key')!r}")
            elif kind == "ConfigMap":
                env[name] = str(data[ref["key"]])
    for name in env:
        if name not in ALLOWED_ENV:
            report.error(where, f"environment variable {name!r} is not in the documented list")
    return env


def check_volumes(
    where: str, pod: dict[str, Any], cluster: Cluster, report: Report
) -> dict[str, dict[str, Any]]:
    volumes = {v.get("name"): v for v in as_list(pod.get("volumes"))}
    for volume in volumes.values():
        for kind, key, name_key in (("Secret", "secret", "secretName"), ("ConfigMap", "configMap", "name")):
            source = volume.get(key)
            if source is None:
                continue
            data = cluster.config_data(kind, str(source.get(name_key)))
            if data is None:
                report.error(where, f"volume {volume.get('name')}: unknown {kind} {source.get(name_key)!r}")
                continue
            for item in as_list(source.get("items")):
                if item.get("key") not in data:
                    report.error(where, f"volume {volume.get('name')}: {kind} has no key {item.get('key')!r}")
    for container in as_list(pod.get("containers")):
        for mount in as_list(container.get("volumeMounts")):
            if mount.get("name") not in volumes:
                report.error(
                    where,
                    f"container {container.get('name')}: mounts undeclared volume {mount.get('name')!r}",
                )
    return volumes


def mounted_secret_file(pod: dict[str, Any], container: dict[str, Any], path: str) -> str | None:
    """Name of the Secret that provides file `path` in the container, if any."""
    volumes = {v.get("name"): v for v in as_list(pod.get("volumes"))}
    for mount in as_list(container.get("volumeMounts")):
        secret = get(volumes.get(mount.get("name")), "secret")
        mount_path = str(mount.get("mountPath", "")).rstrip("/")
        if secret is None or not path.startswith(mount_path + "/"):
            continue
        relative = path[len(mount_path) + 1 :]
        items = as_list(secret.get("items"))
        if (items and any(i.get("path") == relative for i in items)) or (not items and "/" not in relative):
            return str(secret.get("secretName"))
    return None


def check_probe(where: str, container: dict[str, Any], probe_key: str, path: str, report: Report) -> None:
    probe = container.get(probe_key)
    if not isinstance(probe, dict):
        report.error(where, f"{probe_key} is missing")
        return
    http = probe.get("httpGet")
    if not isinstance(http, dict) or http.get("path") != path:
        report.error(where, f"{probe_key} must be httpGet {path}")
        return
    ports = as_list(container.get("ports"))
    port = http.get("port")
    if not any(port in (p.get("name"), p.get("containerPort")) for p in ports):
        report.error(where, f"{probe_key} port {port!r} is not a declared container port")


def check_worker(
    obj: K8sObject, pod: dict[str, Any], container: dict[str, Any], cluster: Cluster, report: Report
) -> None:
    """A queue worker's Deployment: its command, production settings, its service's database from a Secret
    and the personal-data keys mounted (no HTTP: no probes, no metrics port)."""
    where = obj.where
    cwhere = f"{where}: container {container.get('name')}"
    command, service = WORKERS[obj.name]
    labels = get(obj.doc, "spec", "template", "metadata", "labels") or {}
    if labels.get(COMPONENT_LABEL) != obj.name:
        report.error(where, f"pod label {COMPONENT_LABEL} must be {obj.name!r}")
    words = command_words(container.get("command")) + command_words(container.get("args"))
    if words != command:
        report.error(cwhere, f"command must be {' '.join(command)}")
    env = container_environment(cwhere, container, cluster, report)
    if env.get("ENVIRONMENT") != "production":
        report.error(cwhere, "ENVIRONMENT must be production")
    database_var = f"{service.upper()}_DATABASE_URL"
    if database_var not in env:
        report.error(cwhere, f"needs {database_var}")
    elif env[database_var] is not None:
        report.error(cwhere, f"{database_var} must come from a Secret, not a literal or ConfigMap")
    pii = env.get("PII_KEYS_FILE")
    if service == "registry" and (pii is None or mounted_secret_file(pod, container, pii) is None):
        report.error(cwhere, "the registry worker needs PII_KEYS_FILE mounted from a Secret")


def check_deployment(obj: K8sObject, cluster: Cluster, report: Report) -> None:
    mark = report.mark()
    where = obj.where
    spec = obj.doc.get("spec") or {}
    template = spec.get("template") or {}
    pod = template.get("spec") or {}
    labels = get(template, "metadata", "labels") or {}
    annotations = get(template, "metadata", "annotations") or {}
    if not selector_matches(spec.get("selector"), labels) or not get(spec, "selector", "matchLabels"):
        report.error(where, "spec.selector must match the pod template labels")
    check_pod_security(where, pod, report)
    check_volumes(where, pod, cluster, report)
    containers = as_list(pod.get("containers"))
    if not containers:
        report.error(where, "no containers")
        return
    container = containers[0]
    cwhere = f"{where}: container {container.get('name')}"
    if obj.name in WORKERS:
        check_worker(obj, pod, container, cluster, report)
        report.done(where, mark)
        return
    if "startupProbe" in container:
        check_probe(cwhere, container, "startupProbe", "/healthz", report)
    check_probe(cwhere, container, "livenessProbe", "/healthz", report)
    check_probe(cwhere, container, "readinessProbe", "/readyz", report)
    env = container_environment(cwhere, container, cluster, report)

    port = next((p.get("containerPort") for p in as_list(container.get("ports"))), None)
    if annotations.get("prometheus.io/scrape") != "true":
        report.error(where, 'pod annotation prometheus.io/scrape must be "true"')
    if annotations.get("prometheus.io/path") != "/metrics":
        report.error(where, "pod annotation prometheus.io/path must be /metrics")
    if annotations.get("prometheus.io/port") != str(port):
        report.error(where, f"pod annotation prometheus.io/port must be the container port {port}")

    process = PROCESSES.get(obj.name)
    if process is None:
        report.error(where, f"unknown process; expected one of {sorted(PROCESSES)}")
        return
    if labels.get(COMPONENT_LABEL) != obj.name:
        report.error(where, f"pod label {COMPONENT_LABEL} must be {obj.name!r} (NetworkPolicy relies on it)")
    if port != process.port:
        report.error(cwhere, f"containerPort must be {process.port}")
    words = command_words(container.get("command")) + command_words(container.get("args"))
    check_uvicorn_command(cwhere, words, process, report)

    if env.get("ENVIRONMENT") != "production":
        report.error(cwhere, "ENVIRONMENT must be production")
    database_var = f"{obj.name.upper()}_DATABASE_URL"
    if database_var not in env and "DATABASE_URL" not in env:
        report.error(cwhere, f"needs {database_var} (or DATABASE_URL)")
    for name in ("DATABASE_URL", *(f"{p.upper()}_DATABASE_URL" for p in PROCESSES)):
        if name in env and env[name] is not None:
            report.error(cwhere, f"{name} must come from a Secret, not a literal or ConfigMap")
    if obj.name == "gateway":
        if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 2:
            report.error(where, "the gateway needs at least 2 replicas")
        if env.get("JWT_PRIVATE_KEY_FILE") != PRIVATE_KEY_PATH:
            report.error(cwhere, f"JWT_PRIVATE_KEY_FILE must be {PRIVATE_KEY_PATH}")
        elif mounted_secret_file(pod, container, PRIVATE_KEY_PATH) is None:
            report.error(cwhere, f"{PRIVATE_KEY_PATH} must be mounted from a Secret")
        for name in ("REGISTRY_URL", "PLANNING_URL", "ASSESSMENT_URL"):
            service = name.removesuffix("_URL").lower()
            expected = f"http://{service}:{PROCESSES[service].port}"
            if env.get(name) != expected:
                report.error(cwhere, f"{name} must be {expected}, got {env.get(name)!r}")
        for name in ("JWT_JWKS_URL", "JWT_JWKS_FILE", "SERVICE_CLIENT_SECRET"):
            if name in env:
                report.error(cwhere, f"{name} is for the services, not the gateway")
    else:
        if env.get("JWT_JWKS_URL") != JWKS_URL:
            report.error(cwhere, f"JWT_JWKS_URL must be {JWKS_URL}")
        if "JWT_PRIVATE_KEY_FILE" in env:
            report.error(cwhere, "JWT_PRIVATE_KEY_FILE is for the gateway only")
        if env.get("SERVICE_CLIENT_SECRET") is not None:
            report.error(cwhere, "SERVICE_CLIENT_SECRET must not be a literal value")
        secret_file = env.get("SERVICE_CLIENT_SECRET_FILE")
        if secret_file is not None and mounted_secret_file(pod, container, secret_file) is None:
            report.error(cwhere, f"SERVICE_CLIENT_SECRET_FILE {secret_file} is not mounted from a Secret")
        if obj.name == "registry":
            # Production refuses to start without the personal-data keys; they must come from a Secret.
            pii = env.get("PII_KEYS_FILE")
            if pii is None:
                report.error(cwhere, "the registry needs PII_KEYS_FILE (personal-data keys)")
            elif mounted_secret_file(pod, container, pii) is None:
                report.error(cwhere, f"PII_KEYS_FILE {pii} is not mounted from a Secret")
        if env.get("SERVICE_CLIENT_ID") != f"{obj.name}-service":
            report.error(cwhere, f"SERVICE_CLIENT_ID must be {obj.name}-service (the gateway's client id)")
    report.done(where, mark)


def check_job(obj: K8sObject, cluster: Cluster, report: Report) -> None:
    mark = report.mark()
    where = obj.where
    pod = get(obj.doc, "spec", "template", "spec") or {}
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        report.error(where, "restartPolicy must be Never or OnFailure")
    check_pod_security(where, pod, report)
    check_volumes(where, pod, cluster, report)
    for container in as_list(pod.get("containers")):
        cwhere = f"{where}: container {container.get('name')}"
        env = container_environment(cwhere, container, cluster, report)
        words = command_words(container.get("command")) + command_words(container.get("args"))
        if words[: len(MIGRATE_COMMAND)] == MIGRATE_COMMAND:
            if env.get("ENVIRONMENT") != "production":
                report.error(cwhere, "ENVIRONMENT must be production")
            if "DATABASE_URL" not in env and not all(f"{p.upper()}_DATABASE_URL" in env for p in PROCESSES):
                report.error(cwhere, "the migration needs every *_DATABASE_URL (or DATABASE_URL)")
    report.done(where, mark)


def pods_of(cluster: Cluster) -> dict[str, dict[str, str]]:
    """Deployment name -> pod template labels."""
    return {
        d.name: get(d.doc, "spec", "template", "metadata", "labels") or {}
        for d in cluster.of_kind("Deployment")
    }


def check_service(obj: K8sObject, cluster: Cluster, report: Report) -> None:
    mark = report.mark()
    selector = get(obj.doc, "spec", "selector") or {}
    matched = [
        d
        for d in cluster.of_kind("Deployment")
        if selector
        and selector_matches(
            {"matchLabels": selector}, get(d.doc, "spec", "template", "metadata", "labels") or {}
        )
    ]
    if len(matched) != 1:
        report.error(
            obj.where, f"selector must match exactly one Deployment, matches {[d.name for d in matched]}"
        )
        return
    container = (as_list(get(matched[0].doc, "spec", "template", "spec", "containers")) or [{}])[0]
    declared = as_list(container.get("ports"))
    for port in as_list(get(obj.doc, "spec", "ports")):
        target = port.get("targetPort", port.get("port"))
        if not any(target in (p.get("name"), p.get("containerPort")) for p in declared):
            report.error(obj.where, f"targetPort {target!r} is not a port of Deployment/{matched[0].name}")
    process = PROCESSES.get(obj.name)
    if process is not None and not any(
        p.get("port") == process.port for p in as_list(get(obj.doc, "spec", "ports"))
    ):
        report.error(obj.where, f"must expose port {process.port} (the URLs in the ConfigMaps use it)")
    report.done(obj.where, mark)


def check_ingress(obj: K8sObject, cluster: Cluster, report: Report) -> None:
    mark = report.mark()
    backends = [get(obj.doc, "spec", "defaultBackend", "service")]
    for rule in as_list(get(obj.doc, "spec", "rules")):
        backends += [get(p, "backend", "service") for p in as_list(get(rule, "http", "paths"))]
    for backend in filter(None, backends):
        service = cluster.find("Service", str(backend.get("name")))
        if service is None:
            report.error(obj.where, f"backend Service {backend.get('name')!r} does not exist")
            continue
        port = backend.get("port") or {}
        if not any(
            port.get("name") == p.get("name") if "name" in port else port.get("number") == p.get("port")
            for p in as_list(get(service.doc, "spec", "ports"))
        ):
            report.error(obj.where, f"backend port {port} is not a port of Service/{service.name}")
        selector = get(service.doc, "spec", "selector") or {}
        if selector.get(COMPONENT_LABEL) != "gateway":
            report.error(
                obj.where, f"Service/{service.name}: only the gateway may be exposed through the Ingress"
            )
        if get(service.doc, "spec", "publishNotReadyAddresses"):
            report.error(
                obj.where, f"Service/{service.name} publishes not-ready pods; public traffic must not"
            )
    report.done(obj.where, mark)


def check_hpa(obj: K8sObject, cluster: Cluster, report: Report) -> None:
    mark = report.mark()
    target = get(obj.doc, "spec", "scaleTargetRef") or {}
    deployment = cluster.find(str(target.get("kind")), str(target.get("name")))
    if deployment is None:
        report.error(obj.where, f"scaleTargetRef {target.get('kind')}/{target.get('name')} does not exist")
    elif not get(
        deployment.doc,
        "spec",
        "template",
        "spec",
        "containers",
    ) or any(
        get(c, "resources", "requests", "cpu") is None
        for c in as_list(get(deployment.doc, "spec", "template", "spec", "containers"))
    ):
        report.error(obj.where, "CPU-based scaling needs CPU requests on the target's containers")
    if not isinstance(get(obj.doc, "spec", "minReplicas"), int) or get(obj.doc, "spec", "minReplicas") < 2:
        report.error(obj.where, "minReplicas must be at least 2")
    report.done(obj.where, mark)


def check_pdb(obj: K8sObject, cluster: Cluster, report: Report) -> None:
    mark = report.mark()
    selector = get(obj.doc, "spec", "selector")
    matched = [name for name, labels in pods_of(cluster).items() if selector_matches(selector, labels)]
    if matched != ["gateway"]:
        report.error(obj.where, f"selector must match the gateway pods only, matches {matched}")
    report.done(obj.where, mark)


def check_network_policies(cluster: Cluster, report: Report) -> None:
    mark = report.mark()
    pods = pods_of(cluster)
    policies = [
        p for p in cluster.of_kind("NetworkPolicy") if "Ingress" in as_list(get(p.doc, "spec", "policyTypes"))
    ]
    allowed_sources = {n for n in PROCESSES}
    for name, labels in pods.items():
        selecting = [p for p in policies if selector_matches(get(p.doc, "spec", "podSelector"), labels)]
        if not selecting:
            report.error("deploy/k8s NetworkPolicy", f"no ingress policy selects the {name} pods")
            continue
        rules = [r for p in selecting for r in as_list(get(p.doc, "spec", "ingress"))]
        if name == "gateway":
            if not any(not r.get("from") for r in rules):
                report.error("deploy/k8s NetworkPolicy", "the gateway must accept ingress from anywhere")
            continue
        for policy in selecting:
            for rule in as_list(get(policy.doc, "spec", "ingress")):
                peers = as_list(rule.get("from"))
                if not peers:
                    report.error(policy.where, f"{name}: a rule without `from` admits everyone")
                for peer in peers:
                    if "ipBlock" in peer or "namespaceSelector" in peer or "podSelector" not in peer:
                        report.error(
                            policy.where, f"{name}: only pods of this namespace may be admitted ({peer})"
                        )
                        continue
                    admitted = {n for n, lb in pods.items() if selector_matches(peer["podSelector"], lb)}
                    if not admitted <= allowed_sources or not admitted:
                        report.error(
                            policy.where, f"{name}: peer admits {sorted(admitted) or 'unknown pods'}"
                        )
                    if "gateway" not in admitted:
                        report.error(policy.where, f"{name}: the gateway must be admitted")
    report.done("deploy/k8s NetworkPolicy", mark)


def check_secrets(cluster: Cluster, report: Report) -> None:
    mark = report.mark()
    for secret in cluster.of_kind("Secret"):
        if secret.path.name != EXAMPLE_SECRETS_FILE:
            report.error(secret.where, f"Secrets belong only in {EXAMPLE_SECRETS_FILE} (as placeholders)")
        if secret.doc.get("data"):
            report.error(secret.where, "use stringData with visible placeholders, not base64 data")
        for key, value in (secret.doc.get("stringData") or {}).items():
            if PLACEHOLDER_MARK not in str(value):
                report.error(
                    secret.where, f"{key}: value must be a placeholder containing {PLACEHOLDER_MARK}"
                )
    report.done("deploy/k8s Secrets (placeholders only)", mark)


def check_kustomization(kustomization: dict[str, Any] | None, report: Report) -> None:
    mark = report.mark()
    where = rel(K8S_DIR / "kustomization.yaml")
    if kustomization is None:
        report.error(where, "missing")
        return
    resources = [str(r) for r in as_list(kustomization.get("resources"))]
    for resource in resources:
        if not (K8S_DIR / resource).is_file():
            report.error(where, f"resource {resource} does not exist")
    if EXAMPLE_SECRETS_FILE in resources:
        report.error(
            where, f"{EXAMPLE_SECRETS_FILE} must not be applied (it would overwrite the real Secrets)"
        )
    for path in sorted(K8S_DIR.iterdir()):
        if path.suffix in (".yaml", ".yml") and path.name not in ("kustomization.yaml", EXAMPLE_SECRETS_FILE):
            if path.name not in resources:
                report.error(where, f"{path.name} is not listed in resources")
    if kustomization.get("namespace") not in (None, NAMESPACE):
        report.error(where, f"namespace must be {NAMESPACE}")
    report.done(where, mark)


def check_k8s(report: Report) -> None:
    objects, kustomization = load_k8s(report)
    cluster = Cluster(objects)
    checks = {
        "Deployment": check_deployment,
        "Job": check_job,
        "Service": check_service,
        "Ingress": check_ingress,
        "HorizontalPodAutoscaler": check_hpa,
        "PodDisruptionBudget": check_pdb,
    }
    for obj in objects:
        check = checks.get(obj.kind)
        if check is not None:
            check(obj, cluster, report)
    deployments = {d.name for d in cluster.of_kind("Deployment")}
    for name in PROCESSES:
        if name not in deployments:
            report.error(rel(K8S_DIR), f"no Deployment for {name}")
        if cluster.find("Service", name) is None:
            report.error(rel(K8S_DIR), f"no Service for {name}")
    for kind in (
        "Namespace",
        "Job",
        "NetworkPolicy",
        "Ingress",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    ):
        if next(cluster.of_kind(kind), None) is None:
            report.error(rel(K8S_DIR), f"no {kind}")
    if cluster.find("Namespace", NAMESPACE) is None:
        report.error(rel(K8S_DIR), f"no Namespace {NAMESPACE}")
    check_network_policies(cluster, report)
    check_secrets(cluster, report)
    check_kustomization(kustomization, report)


# --------------------------------------------------------------------------------------------------------
# docker-compose.yml
# --------------------------------------------------------------------------------------------------------

_STRINGS = {"type": "array", "items": {"type": "string"}}
_STRING_OR_STRINGS = {"oneOf": [{"type": "string"}, _STRINGS]}
_DURATION = {"type": "string", "pattern": r"^(\d+(\.\d+)?(us|ms|s|m|h))+$"}

#: A deliberately small subset of the Compose specification: the keys this project uses plus common ones.
#: Unknown service keys are rejected so that typos (`depend_on`) do not pass silently.
COMPOSE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["services"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
        "services": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": "^[a-zA-Z0-9._-]+$"},
            "additionalProperties": {"$ref": "#/$defs/service"},
        },
        "volumes": {"type": "object", "additionalProperties": {"type": ["object", "null"]}},
        "networks": {"type": "object", "additionalProperties": {"type": ["object", "null"]}},
        "secrets": {"type": "object"},
        "configs": {"type": "object"},
    },
    "patternProperties": {"^x-": {}},
    "additionalProperties": False,
    "$defs": {
        "service": {
            "type": "object",
            "anyOf": [{"required": ["image"]}, {"required": ["build"]}],
            "properties": {
                "image": {"type": "string", "minLength": 1},
                "build": {
                    "oneOf": [
                        {"type": "string"},
                        {
                            "type": "object",
                            "properties": {
                                "context": {"type": "string"},
                                "dockerfile": {"type": "string"},
                                "target": {"type": "string"},
                                "args": {"type": ["object", "array"]},
                            },
                            "additionalProperties": False,
                        },
                    ]
                },
                "command": _STRING_OR_STRINGS,
                "entrypoint": _STRING_OR_STRINGS,
                "ports": {
                    "type": "array",
                    "items": {
                        "type": "string",
                        # [host-ip:][host-port:]container-port[/protocol], ranges allowed
                        "pattern": (
                            r"^((\[[0-9a-fA-F:]+\]|[0-9.]+):)?(\d+(-\d+)?:)?\d+(-\d+)?(/(tcp|udp|sctp))?$"
                        ),
                    },
                },
                "expose": {"type": "array", "items": {"type": "string"}},
                "environment": {
                    "oneOf": [
                        {
                            "type": "object",
                            "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                            "additionalProperties": {"type": ["string", "null"]},
                        },
                        {
                            "type": "array",
                            "items": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*(=.*)?$"},
                        },
                    ]
                },
                "env_file": _STRING_OR_STRINGS,
                "depends_on": {
                    "oneOf": [
                        {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                        {
                            "type": "object",
                            "additionalProperties": {
                                "type": "object",
                                "required": ["condition"],
                                "properties": {
                                    "condition": {
                                        "enum": [
                                            "service_started",
                                            "service_healthy",
                                            "service_completed_successfully",
                                        ]
                                    },
                                    "restart": {"type": "boolean"},
                                    "required": {"type": "boolean"},
                                },
                                "additionalProperties": False,
                            },
                        },
                    ]
                },
                "healthcheck": {
                    "type": "object",
                    "properties": {
                        "test": {
                            "oneOf": [
                                {"type": "string"},
                                {
                                    "type": "array",
                                    "items": {"type": "string"},
                                    "minItems": 1,
                                    "prefixItems": [{"enum": ["CMD", "CMD-SHELL", "NONE"]}],
                                },
                            ]
                        },
                        "interval": _DURATION,
                        "timeout": _DURATION,
                        "start_period": _DURATION,
                        "start_interval": _DURATION,
                        "retries": {"type": "integer", "minimum": 1},
                        "disable": {"type": "boolean"},
                    },
                    "additionalProperties": False,
                },
                "volumes": {"type": "array", "items": {"type": ["string", "object"]}},
                "tmpfs": _STRING_OR_STRINGS,
                "restart": {"type": "string", "pattern": "^(no|always|unless-stopped|on-failure(:\\d+)?)$"},
                "read_only": {"type": "boolean"},
                "cap_add": _STRINGS,
                "cap_drop": _STRINGS,
                "security_opt": _STRINGS,
                "user": {"type": "string"},
                "working_dir": {"type": "string"},
                "init": {"type": "boolean"},
                "labels": {"type": ["object", "array"]},
                "networks": {"type": ["object", "array"]},
                "logging": {"type": "object"},
                "deploy": {"type": "object"},
                "profiles": _STRINGS,
                "container_name": {"type": "string"},
                "hostname": {"type": "string"},
                "stop_grace_period": _DURATION,
                "stop_signal": {"type": "string"},
                "ulimits": {"type": "object"},
                "secrets": {"type": "array"},
                "configs": {"type": "array"},
                "extra_hosts": {"type": ["object", "array"]},
                "pull_policy": {"enum": ["always", "never", "missing", "build", "if_not_present"]},
                "mem_limit": {"type": ["string", "integer"]},
                "cpus": {"type": ["string", "number"]},
                "shm_size": {"type": ["string", "integer"]},
                "platform": {"type": "string"},
            },
            "patternProperties": {"^x-": {}},
            "additionalProperties": False,
        }
    },
}


def compose_environment(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return {item.split("=", 1)[0]: (item.split("=", 1)[1] if "=" in item else None) for item in env}
    return {str(k): (None if v is None else str(v)) for k, v in env.items()}


def check_compose(report: Report) -> None:
    mark = report.mark()
    where = rel(COMPOSE_FILE)
    documents = load_documents(COMPOSE_FILE, report)
    if len(documents) != 1 or not isinstance(documents[0], dict):
        report.error(where, "must be a single YAML mapping")
        return
    compose: dict[str, Any] = documents[0]

    validator = jsonschema.Draft202012Validator(COMPOSE_SCHEMA)
    schema_errors = sorted(validator.iter_errors(compose), key=lambda e: [str(p) for p in e.absolute_path])
    for error in schema_errors:
        location = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        message = error.message
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set(error.schema.get("properties", {}))
            unknown = sorted(k for k in error.instance if k not in known and not str(k).startswith("x-"))
            message = f"unknown key(s) {', '.join(map(repr, unknown))}"
        report.error(where, f"schema: {location}: {message}")
    if schema_errors:
        return
    report.done(f"{where} (schema)", mark)
    mark = report.mark()

    services: dict[str, dict[str, Any]] = compose["services"]
    declared_volumes = set((compose.get("volumes") or {}).keys())
    for name in ("postgres", "redis", "keys", "migrate", *PROCESSES):
        if name not in services:
            report.error(where, f"service {name!r} is missing")

    built_images = {s["image"] for s in services.values() if "build" in s and "image" in s}
    for name, service in services.items():
        swhere = f"{where}: service {name}"
        is_app = "build" in service or service.get("image") in built_images
        for dependency in service.get("depends_on") or []:
            if dependency not in services:
                report.error(swhere, f"depends_on unknown service {dependency!r}")
        if isinstance(service.get("depends_on"), dict):
            for dependency, spec in service["depends_on"].items():
                target = services.get(dependency) or {}
                if spec["condition"] == "service_healthy" and "healthcheck" not in target:
                    report.error(swhere, f"waits for {dependency} to be healthy, but it has no healthcheck")
                if (
                    spec["condition"] == "service_completed_successfully"
                    and target.get("restart", "no") != "no"
                ):
                    report.error(
                        swhere,
                        f"waits for {dependency} to complete, but it restarts ({target.get('restart')})",
                    )
        for volume in as_list(service.get("volumes")):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else str(volume.get("source", ""))
            if ":" in str(volume) and source and not source.startswith((".", "/", "~", "$")):
                if source not in declared_volumes:
                    report.error(swhere, f"named volume {source!r} is not declared under volumes:")
            elif source.startswith("./") and not (ROOT / source).exists():
                report.error(swhere, f"bind-mounted {source} does not exist")
        if not is_app:
            continue
        env = compose_environment(service)
        for var in env:
            if var not in ALLOWED_ENV:
                report.error(swhere, f"environment variable {var!r} is not in the documented list")
        if env and env.get("ENVIRONMENT") != "development":
            report.error(swhere, "ENVIRONMENT must be development")
        words = command_words(service.get("command"))
        process = PROCESSES.get(name)
        if process is not None:
            check_uvicorn_command(swhere, words, process, report)
            if not any(str(p).endswith(f":{process.port}") for p in as_list(service.get("ports"))):
                report.error(swhere, f"must publish port {process.port}")
            test = " ".join(command_words(get(service, "healthcheck", "test")))
            if f":{process.port}/readyz" not in test:
                report.error(swhere, f"healthcheck must request /readyz on port {process.port}")
            database_var = f"{name.upper()}_DATABASE_URL"
            if database_var not in env and "DATABASE_URL" not in env:
                report.error(swhere, f"needs {database_var} (or DATABASE_URL)")
            if name == "gateway":
                if "JWT_PRIVATE_KEY_FILE" not in env or "REDIS_URL" not in env:
                    report.error(swhere, "the gateway needs JWT_PRIVATE_KEY_FILE and REDIS_URL")
            else:
                if not ({"JWT_JWKS_FILE", "JWT_JWKS_URL"} & env.keys()) or "GATEWAY_URL" not in env:
                    report.error(swhere, "needs JWT_JWKS_FILE or JWT_JWKS_URL, and GATEWAY_URL")
                if env.get("SERVICE_CLIENT_ID") != f"{name}-service":
                    report.error(
                        swhere, f"SERVICE_CLIENT_ID must be {name}-service (the gateway's client id)"
                    )
        elif name == "migrate":
            if words != MIGRATE_COMMAND:
                report.error(swhere, f"command must be {' '.join(MIGRATE_COMMAND)!r}")
            if get(service, "depends_on", "postgres", "condition") != "service_healthy":
                report.error(swhere, "must depend on postgres with condition service_healthy")
            if "DATABASE_URL" not in env and not all(f"{p.upper()}_DATABASE_URL" in env for p in PROCESSES):
                report.error(swhere, "the migration needs every *_DATABASE_URL (or DATABASE_URL)")
        elif name == "keys":
            if words != GEN_KEYS_COMMAND:
                report.error(swhere, f"command must be {' '.join(GEN_KEYS_COMMAND)!r}")
        if service.get("restart", "no") == "no" and process is not None:
            report.error(swhere, "long-running services should restart (restart: unless-stopped)")
        if name in WORKERS:  # a long-running queue worker: its command, and it restarts
            if words != WORKERS[name][0]:
                report.error(swhere, f"command must be {' '.join(WORKERS[name][0])!r}")
            if service.get("restart", "no") == "no":
                report.error(swhere, "long-running services should restart (restart: unless-stopped)")
        elif process is None and service.get("restart", "no") != "no":
            report.error(swhere, 'one-shot services must not restart (restart: "no")')

    postgres = services.get("postgres") or {}
    if not str(postgres.get("image", "")).startswith("postgres:16"):
        report.error(f"{where}: service postgres", "image must be postgres:16")
    if not str((services.get("redis") or {}).get("image", "")).startswith("redis:7"):
        report.error(f"{where}: service redis", "image must be redis:7")
    if not any(
        str(v).startswith("./deploy/compose/init-databases.sql:/docker-entrypoint-initdb.d/")
        for v in as_list(postgres.get("volumes"))
    ):
        report.error(
            f"{where}: service postgres",
            "must mount deploy/compose/init-databases.sql into /docker-entrypoint-initdb.d",
        )
    try:
        sql = INIT_SQL.read_text(encoding="utf-8")
    except OSError as exc:
        report.error(rel(INIT_SQL), f"cannot read: {exc}")
    else:
        created = set(re.findall(r"CREATE\s+DATABASE\s+\"?(\w+)\"?", sql, flags=re.IGNORECASE))
        for database in DATABASES:
            if database not in created:
                report.error(rel(INIT_SQL), f"does not create {database}")
        for name, service in services.items():
            for var, value in compose_environment(service).items():
                if var.endswith("DATABASE_URL") and value:
                    database = value.rsplit("/", 1)[-1].split("?", 1)[0]
                    if database not in created:
                        report.error(
                            f"{where}: service {name}",
                            f"{var} uses database {database!r}, not created by init SQL",
                        )
    keys_volumes = [str(v) for v in as_list((services.get("keys") or {}).get("volumes"))]
    if not any(v.startswith("keys:/keys") for v in keys_volumes) or "keys" not in declared_volumes:
        report.error(f"{where}: service keys", "must mount the named volume `keys` at /keys")
    report.done(f"{where} (services)", mark)


# --------------------------------------------------------------------------------------------------------
# Dockerfile and .dockerignore (light checks)
# --------------------------------------------------------------------------------------------------------


def check_dockerfile(report: Report) -> None:
    mark = report.mark()
    where = rel(DOCKERFILE)
    try:
        text = DOCKERFILE.read_text(encoding="utf-8")
    except OSError as exc:
        report.error(where, f"cannot read: {exc}")
        return
    logical = re.sub(r"\\\n", " ", text)
    instructions = [
        line.strip() for line in logical.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", logical, flags=re.MULTILINE))
    bases = [
        re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), i.split()[1])
        for i in instructions
        if i.upper().startswith("FROM ")
    ]
    if not bases or any(not b.startswith("python:3.11-slim") for b in bases):
        report.error(where, f"every stage must be based on python:3.11-slim, got {bases}")
    users = [i.split()[1] for i in instructions if i.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] != "10001":
        report.error(where, "the final USER must be 10001")
    for command in (
        "pip install --no-cache-dir -r requirements.lock",
        "pip install --no-cache-dir --no-deps .",
    ):
        if command not in logical:
            report.error(where, f"missing `{command}`")
    cmd = next((i for i in reversed(instructions) if i.upper().startswith("CMD ")), "")
    if "gateway.main:create_app" not in cmd:
        report.error(where, "the default CMD must run the gateway")
    for instruction in instructions:
        if re.match(r"^(ENV|ARG)\s", instruction, flags=re.IGNORECASE) and re.search(
            r"(SECRET|PASSWORD|TOKEN|PRIVATE|DATABASE_URL|REDIS_URL)", instruction, flags=re.IGNORECASE
        ):
            report.error(where, f"secrets must not be baked into the image: {instruction}")
        if re.match(r"^(COPY|ADD)\s", instruction, flags=re.IGNORECASE) and re.search(
            r"\.pem|\.env\b|keys", instruction
        ):
            report.error(where, f"must not copy keys or env files: {instruction}")
    try:
        ignored = {line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()}
    except OSError as exc:
        report.error(rel(DOCKERIGNORE), f"cannot read: {exc}")
    else:
        for required in (".venv", "var/", ".git", "**/__pycache__", "bench/results/", ".env", "*.pem"):
            if required not in ignored:
                report.error(rel(DOCKERIGNORE), f"must exclude {required}")
    report.done(where, mark)


def check_no_private_keys(report: Report) -> None:
    mark = report.mark()
    paths = [COMPOSE_FILE, DOCKERFILE, *sorted((ROOT / "deploy").rglob("*"))]
    for path in paths:
        if path.is_file() and path.suffix in ("", ".yaml", ".yml", ".sql", ".md", ".json"):
            if re.search(
                r"-----BEGIN [A-Z ]*PRIVATE KEY-----", path.read_text(encoding="utf-8", errors="replace")
            ):
                report.error(rel(path), "contains a private key")
    report.done("no private keys in deployment files", mark)


def main() -> int:
    report = Report()
    check_k8s(report)
    check_compose(report)
    check_dockerfile(report)
    check_no_private_keys(report)
    for item, passed in report.checked:
        print(f"{'ok  ' if passed else 'FAIL'}  {item}")
    if report.errors:
        for message in report.errors:
            print(f"ERROR {message}", file=sys.stderr)
        print(f"\n{len(report.errors)} problem(s) found.", file=sys.stderr)
        return 1
    print(f"\nAll deployment files are valid ({len(report.checked)} checks passed).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
