"""The validation tooling of the rollout tests: published CRDs, made strict, and core schemas.

Each valid manifest here follows the controller's own documentation; each broken variant
changes one thing and must be rejected with the path of that thing.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from support.crd_validation import (
    CRD_DIR_ENV,
    K8S_VERSION,
    KNOWN_RULES,
    OBJECT_META,
    TRANSITION_RULES,
    SchemaNotFoundError,
    crd_dir,
    custom_resource_types,
    format_path,
    go_duration,
    is_custom_resource,
    strict_schema,
    validate,
    validate_core,
    validate_custom_resource,
    validate_documents,
)

# --- Argo Rollouts: canary with Istio subset-level traffic splitting and an analysis step -----

ROLLOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: churn-model
  namespace: ml
  labels: {app.kubernetes.io/name: churn-model}
spec:
  replicas: 3
  revisionHistoryLimit: 2
  selector:
    matchLabels: {app: churn-model}
  template:
    metadata:
      labels: {app: churn-model}
    spec:
      serviceAccountName: churn-model
      containers:
        - name: server
          image: ghcr.io/example/churn-model:1.2.0
          ports:
            - {name: http, containerPort: 8080, protocol: TCP}
          env:
            - {name: MODEL_URI, value: "models:/churn/3"}
          resources:
            requests: {cpu: 100m, memory: 256Mi}
            limits: {memory: 512Mi}
          readinessProbe:
            httpGet: {path: /healthz, port: http}
  strategy:
    canary:
      trafficRouting:
        istio:
          virtualService:
            name: churn-model
            routes: [primary]
          destinationRule:
            name: churn-model
            canarySubsetName: canary
            stableSubsetName: stable
      steps:
        - setWeight: 10
        - pause: {duration: 5m}
        - analysis:
            templates:
              - templateName: success-rate
            args:
              - {name: service-name, value: churn-model}
        - setWeight: 50
        - pause: {}
"""

ANALYSIS_TEMPLATE = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
  namespace: ml
spec:
  args:
    - name: service-name
  metrics:
    - name: success-rate
      interval: 1m
      count: 5
      successCondition: result[0] >= 0.95
      failureLimit: 2
      provider:
        prometheus:
          address: http://prometheus.monitoring.svc:9090
          query: |
            sum(rate(istio_requests_total{destination_service_name="{{args.service-name}}",
              response_code!~"5.*"}[5m]))
            / sum(rate(istio_requests_total{destination_service_name="{{args.service-name}}"}[5m]))
"""

# --- Flagger ------------------------------------------------------------------------------------

CANARY = """
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: churn-model
  namespace: ml
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: churn-model
  progressDeadlineSeconds: 600
  service:
    port: 80
    targetPort: 8080
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
      - name: request-success-rate
        thresholdRange: {min: 99}
        interval: 1m
      - name: error-rate
        templateRef: {name: error-rate, namespace: ml}
        thresholdRange: {max: 1}
        interval: 1m
"""

METRIC_TEMPLATE = """
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: error-rate
  namespace: ml
spec:
  provider:
    type: prometheus
    address: http://prometheus.istio-system:9090
  query: |
    100 - sum(rate(istio_requests_total{reporter="destination",
      destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}",
      response_code!~"5.*"}[{{ interval }}]))
    / sum(rate(istio_requests_total{reporter="destination",
      destination_workload_namespace="{{ namespace }}",destination_workload="{{ target }}"
      }[{{ interval }}])) * 100
"""

# --- KServe -------------------------------------------------------------------------------------

INFERENCE_SERVICE = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: churn-model
  namespace: ml
spec:
  predictor:
    canaryTrafficPercent: 10
    minReplicas: 1
    model:
      modelFormat: {name: sklearn}
      storageUri: gs://kfserving-examples/models/sklearn/1.0/model
      resources:
        requests: {cpu: 100m, memory: 512Mi}
"""

# --- Istio --------------------------------------------------------------------------------------

VIRTUAL_SERVICE = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: churn-model
  namespace: ml
spec:
  hosts: [churn-model]
  http:
    - name: header-canary
      match:
        - headers:
            x-canary: {exact: "true"}
      route:
        - destination: {host: churn-model, subset: canary}
    - name: primary
      route:
        - destination: {host: churn-model, subset: stable, port: {number: 80}}
          weight: 90
        - destination: {host: churn-model, subset: canary, port: {number: 80}}
          weight: 10
      mirror: {host: churn-model-shadow, port: {number: 80}}
      mirrorPercentage: {value: 5.0}
      timeout: 10s
      retries: {attempts: 3, perTryTimeout: 2s, retryOn: 5xx}
"""

DESTINATION_RULE = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: churn-model
  namespace: ml
spec:
  host: churn-model
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 5, interval: 30s, baseEjectionTime: 1m}
  subsets:
    - name: stable
      labels: {app: churn-model}
    - name: canary
      labels: {app: churn-model}
"""

# --- Core ---------------------------------------------------------------------------------------

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: churn-model
  namespace: ml
  labels: {app: churn-model}
spec:
  replicas: 2
  selector:
    matchLabels: {app: churn-model}
  template:
    metadata:
      labels: {app: churn-model}
    spec:
      serviceAccountName: churn-model
      containers:
        - name: server
          image: ghcr.io/example/churn-model:1.2.0
          ports:
            - {name: http, containerPort: 8080}
          envFrom:
            - configMapRef: {name: churn-model}
          resources:
            requests: {cpu: 100m, memory: 256Mi}
"""

SERVICE = """
apiVersion: v1
kind: Service
metadata:
  name: churn-model
  namespace: ml
spec:
  selector: {app: churn-model}
  ports:
    - {name: http, port: 80, targetPort: http, protocol: TCP}
"""

CONFIG_MAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: churn-model
  namespace: ml
data:
  MODEL_URI: models:/churn/3
  THRESHOLD: "0.95"
"""

SERVICE_ACCOUNT = """
apiVersion: v1
kind: ServiceAccount
metadata:
  name: churn-model
  namespace: ml
"""

ROLE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: churn-model-rollout
  namespace: ml
rules:
  - apiGroups: [argoproj.io]
    resources: [rollouts, analysisruns]
    verbs: [get, list, watch, patch]
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get]
"""

ROLE_BINDING = """
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: churn-model-rollout
  namespace: ml
subjects:
  - {kind: ServiceAccount, name: churn-model, namespace: ml}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: churn-model-rollout
"""

CUSTOM = [
    ROLLOUT,
    ANALYSIS_TEMPLATE,
    CANARY,
    METRIC_TEMPLATE,
    INFERENCE_SERVICE,
    VIRTUAL_SERVICE,
    DESTINATION_RULE,
]
CORE = [DEPLOYMENT, SERVICE, CONFIG_MAP, SERVICE_ACCOUNT, ROLE, ROLE_BINDING]


def load(text: str) -> dict[str, Any]:
    return yaml.safe_load(text)


def changed(text: str, change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """The manifest with one change applied (a function that edits the loaded document)."""
    doc = copy.deepcopy(load(text))
    change(doc)
    return doc


def rename(node: dict[str, Any], old: str, new: str) -> None:
    node[new] = node.pop(old)


def steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["spec"]["strategy"]["canary"]["steps"]


def kind_of(text: str) -> str:
    return load(text)["kind"]


# --- Valid manifests ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", CUSTOM, ids=kind_of)
def test_documented_custom_resources_are_valid(text: str) -> None:
    doc = load(text)
    assert is_custom_resource(doc)
    assert validate_custom_resource(doc) == []
    assert validate(doc) == []


@pytest.mark.parametrize("text", CORE, ids=kind_of)
def test_core_objects_are_valid(text: str) -> None:
    doc = load(text)
    assert not is_custom_resource(doc)
    assert validate_core(doc) == []
    assert validate(doc) == []
    # The package's own entry point agrees (it stops at the first error).
    assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True) == "1.30"


def test_validate_documents_names_each_object() -> None:
    docs = [load(ROLLOUT), None, changed(SERVICE, lambda d: d["spec"].update(prots=[]))]
    assert validate_documents(docs) == ["Service/churn-model: spec.prots: unknown field"]


# --- Argo Rollouts ------------------------------------------------------------------------------


def test_rollout_step_typo_is_an_unknown_field() -> None:
    doc = changed(ROLLOUT, lambda d: rename(steps(d)[0], "setWeight", "setWieght"))
    assert validate(doc) == ["spec.strategy.canary.steps[0].setWieght: unknown field"]


def test_rollout_weight_of_wrong_type() -> None:
    doc = changed(ROLLOUT, lambda d: steps(d)[0].update(setWeight="ten"))
    assert validate(doc) == [
        "spec.strategy.canary.steps[0].setWeight: 'ten' is not of type 'integer'"
    ]


def test_rollout_traffic_routing_needs_subset_names() -> None:
    def drop_canary_subset(doc: dict[str, Any]) -> None:
        del doc["spec"]["strategy"]["canary"]["trafficRouting"]["istio"]["destinationRule"][
            "canarySubsetName"
        ]

    assert validate(changed(ROLLOUT, drop_canary_subset)) == [
        "spec.strategy.canary.trafficRouting.istio.destinationRule: "
        "'canarySubsetName' is a required property"
    ]


def test_rollout_unknown_fields_at_top_level_and_in_metadata() -> None:
    def typos(doc: dict[str, Any]) -> None:
        rename(doc, "spec", "sepc")
        rename(doc["metadata"], "labels", "lables")

    assert validate(changed(ROLLOUT, typos)) == [
        "(root): 'spec' is a required property",
        "metadata.lables: unknown field",
        "sepc: unknown field",
    ]


def test_rollout_pod_template_is_strict_and_rejects_duplicate_container_names() -> None:
    def edit(doc: dict[str, Any]) -> None:
        containers = doc["spec"]["template"]["spec"]["containers"]
        containers[0]["imagePullPolicyy"] = "Always"
        containers.append({"name": "server", "image": "busybox"})

    assert validate(changed(ROLLOUT, edit)) == [
        "spec.template.spec.containers[0].imagePullPolicyy: unknown field",
        "spec.template.spec.containers[1]: duplicate entry {'name': 'server'} "
        "in a list of type map",
    ]


def test_rollout_preserved_fields_accept_anything() -> None:
    # resources.limits preserves unknown fields in Argo's CRD; a step plugin's config is free-form.
    def edit(doc: dict[str, Any]) -> None:
        container = doc["spec"]["template"]["spec"]["containers"][0]
        container["resources"]["limits"]["nvidia.com/gpu"] = 1
        steps = doc["spec"]["strategy"]["canary"]["steps"]
        steps.append({"plugin": {"name": "example/step", "config": {"any": {"thing": [1]}}}})

    assert validate(changed(ROLLOUT, edit)) == []


def test_analysis_template_int_or_string_counts() -> None:
    for value in (5, "5", "{{args.count}}"):
        doc = changed(ANALYSIS_TEMPLATE, lambda d, v=value: d["spec"]["metrics"][0].update(count=v))
        assert validate(doc) == [], value
    doc = changed(ANALYSIS_TEMPLATE, lambda d: d["spec"]["metrics"][0].update(count=True))
    assert validate(doc) == ["spec.metrics[0].count: True is not of type 'integer', 'string'"]


def test_analysis_template_typo() -> None:
    def typo(doc: dict[str, Any]) -> None:
        rename(doc["spec"]["metrics"][0], "successCondition", "successCondtion")

    assert validate(changed(ANALYSIS_TEMPLATE, typo)) == [
        "spec.metrics[0].successCondtion: unknown field"
    ]


def test_analysis_template_provider_typo() -> None:
    def typo(doc: dict[str, Any]) -> None:
        rename(doc["spec"]["metrics"][0]["provider"], "prometheus", "promethues")

    doc = changed(ANALYSIS_TEMPLATE, typo)
    assert validate(doc) == ["spec.metrics[0].provider.promethues: unknown field"]


# --- Flagger ------------------------------------------------------------------------------------


def test_canary_analysis_needs_threshold() -> None:
    doc = changed(CANARY, lambda d: d["spec"]["analysis"].pop("threshold"))
    [message] = validate(doc)
    assert message.startswith("spec.analysis: matches none of the alternatives (")
    assert "interval+threshold+stepWeight" in message


def test_canary_analysis_takes_one_of_iterations_and_step_weight() -> None:
    doc = changed(CANARY, lambda d: d["spec"]["analysis"].update(iterations=10))
    [message] = validate(doc)
    assert message.startswith("spec.analysis: matches more than one of the alternatives")


def test_canary_metric_typo_and_service_port_type() -> None:
    def edit(doc: dict[str, Any]) -> None:
        rename(doc["spec"]["analysis"]["metrics"][1], "templateRef", "templateRefs")
        doc["spec"]["service"]["port"] = "80"  # Flagger's CRD says `type: number`

    assert validate(changed(CANARY, edit)) == [
        "spec.analysis.metrics[1].templateRefs: unknown field",
        "spec.service.port: '80' is not of type 'number'",
    ]


def test_metric_template_needs_query_and_known_provider_fields() -> None:
    def edit(doc: dict[str, Any]) -> None:
        del doc["spec"]["query"]
        rename(doc["spec"]["provider"], "address", "adress")

    assert validate(changed(METRIC_TEMPLATE, edit)) == [
        "spec.provider.adress: unknown field",
        "spec: 'query' is a required property",
    ]


def test_flagger_mirror_backend_rule() -> None:
    # A CEL rule with Python equivalent: a Service backendRef (the defaults) needs a port.
    def mirror(port: int | None) -> Callable[[dict[str, Any]], None]:
        ref: dict[str, Any] = {"name": "shadow"} | ({"port": port} if port else {})
        return lambda d: d["spec"]["service"].update(mirror=[{"backendRef": ref}])

    assert validate(changed(CANARY, mirror(8080))) == []
    [message] = validate(changed(CANARY, mirror(None)))
    assert message.startswith("spec.service.mirror[0].backendRef: Must have port for Service")


# --- KServe -------------------------------------------------------------------------------------


def test_inference_service_typos_and_types() -> None:
    def edit(doc: dict[str, Any]) -> None:
        predictor = doc["spec"]["predictor"]
        predictor["canaryTrafficPercent"] = "10%"
        rename(predictor["model"], "storageUri", "storageURI")

    assert validate(changed(INFERENCE_SERVICE, edit)) == [
        "spec.predictor.canaryTrafficPercent: '10%' is not of type 'integer'",
        "spec.predictor.model.storageURI: unknown field",
    ]


def test_inference_service_needs_a_predictor() -> None:
    doc = changed(INFERENCE_SERVICE, lambda d: rename(d["spec"], "predictor", "predictr"))
    assert validate(doc) == [
        "spec.predictr: unknown field",
        "spec: 'predictor' is a required property",
    ]


# --- Istio --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v1beta1", "v1alpha3"])
def test_istio_objects_validate_in_every_served_version(version: str) -> None:
    for text in (VIRTUAL_SERVICE, DESTINATION_RULE):
        doc = changed(text, lambda d: d.update(apiVersion=f"networking.istio.io/{version}"))
        assert validate(doc) == []


def test_virtual_service_typo_and_null() -> None:
    def edit(doc: dict[str, Any]) -> None:
        route = doc["spec"]["http"][1]["route"]
        rename(route[0], "weight", "wieght")
        route[1]["weight"] = None  # not nullable
        doc["spec"]["http"][1]["retries"]["retryRemoteLocalities"] = None  # nullable (BoolValue)

    assert validate(changed(VIRTUAL_SERVICE, edit)) == [
        "spec.http[1].route[0].wieght: unknown field",
        "spec.http[1].route[1].weight: None is not of type 'integer'",
    ]


def test_virtual_service_header_match_takes_one_kind_of_match() -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["spec"]["http"][0]["match"][0]["headers"]["x-canary"]["prefix"] = "t"

    [message] = validate(changed(VIRTUAL_SERVICE, edit))
    assert message.startswith(
        "spec.http[0].match[0].headers.x-canary: matches more than one of the alternatives"
    )


def test_virtual_service_durations_follow_the_cel_rule() -> None:
    def timeout(value: str) -> Callable[[dict[str, Any]], None]:
        return lambda d: d["spec"]["http"][1].update(timeout=value)

    for good in ("10s", "1.5s", "1m30s", "250ms"):
        assert validate(changed(VIRTUAL_SERVICE, timeout(good))) == [], good
    for bad in ("10", "ten seconds", "500us"):
        assert validate(changed(VIRTUAL_SERVICE, timeout(bad))) == [
            f"spec.http[1].timeout: must be a valid duration greater than 1ms ('{bad}')"
        ]


def test_destination_rule_typo() -> None:
    def edit(doc: dict[str, Any]) -> None:
        rename(doc["spec"]["subsets"][1], "labels", "label")
        doc["spec"]["trafficPolicy"]["loadBalancer"]["simple"] = "ROUND_ROBBIN"

    errors = validate(changed(DESTINATION_RULE, edit))
    assert errors[0] == "spec.subsets[1].label: unknown field"
    assert errors[1].startswith("spec.trafficPolicy.loadBalancer.simple: 'ROUND_ROBBIN' is not one")
    assert len(errors) == 2


# --- Core objects -------------------------------------------------------------------------------


def test_deployment_typo_and_wrong_type_all_reported() -> None:
    def edit(doc: dict[str, Any]) -> None:
        rename(doc["spec"], "replicas", "replica")
        doc["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8080"

    doc = changed(DEPLOYMENT, edit)
    assert validate(doc) == [
        "spec.replica: unknown field",
        "spec.template.spec.containers[0].ports[0].containerPort: '8080' is not of type 'integer'",
    ]
    # kubernetes-validate's own entry point rejects it too.
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_core_metadata_and_rbac_typos() -> None:
    doc = changed(ROLE, lambda d: rename(d["rules"][0], "verbs", "verb"))
    assert validate(doc) == [
        "rules[0].verb: unknown field",
        "rules[0]: 'verbs' is a required property",
    ]
    doc = changed(CONFIG_MAP, lambda d: d["metadata"].update(annotation={}))
    assert validate(doc) == ["metadata.annotation: unknown field"]


# --- Dispatch, configuration and the conversion itself ------------------------------------------


def test_unknown_kinds_raise() -> None:
    with pytest.raises(SchemaNotFoundError, match=r"argoproj.io/v1alpha1.*Experiment"):
        validate({"apiVersion": "argoproj.io/v1alpha1", "kind": "Experiment"})
    with pytest.raises(SchemaNotFoundError, match="Rollout"):
        validate({"apiVersion": "argoproj.io/v1", "kind": "Rollout"})
    with pytest.raises(SchemaNotFoundError, match=r"example.com/v1.*Widget"):
        validate({"apiVersion": "example.com/v1", "kind": "Widget"})
    with pytest.raises(SchemaNotFoundError, match="apiVersion and kind"):
        validate({"kind": "Service"})


def test_crd_folder_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = crd_dir()
    monkeypatch.setenv(CRD_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="MLSPEC_CRDS"):
        validate(load(ROLLOUT))
    shutil.copy(source / "flagger-v1.44.0-crd.yaml", tmp_path)
    monkeypatch.setenv(CRD_DIR_ENV, str(tmp_path))
    assert validate(load(CANARY)) == []
    with pytest.raises(SchemaNotFoundError):
        validate(load(ROLLOUT))


def test_every_crd_version_is_loaded_and_converts_to_a_valid_schema() -> None:
    types = custom_resource_types()
    assert {kind for _, kind in types} == {
        "Application",
        "Rollout",
        "AnalysisTemplate",
        "Canary",
        "MetricTemplate",
        "AlertProvider",
        "InferenceService",
        "VirtualService",
        "DestinationRule",
    }
    for api_version, kind in types:
        schema = strict_schema(api_version, kind)
        jsonschema.Draft4Validator.check_schema(schema)
        assert schema["additionalProperties"] is False
        assert schema["properties"]["metadata"] is OBJECT_META


def test_every_cel_rule_is_known_or_a_transition_rule() -> None:
    """A CRD update that brings a new CEL rule fails here: add its Python equivalent."""
    rules: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            rules.update(rule["rule"] for rule in node.get("x-kubernetes-validations", []))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    for api_version, kind in custom_resource_types():
        collect(strict_schema(api_version, kind))
    assert rules - set(KNOWN_RULES) - TRANSITION_RULES == set()
    assert set(KNOWN_RULES) <= rules, "a rule in KNOWN_RULES is no longer used"


def test_object_meta_lists_the_fields_of_core_object_meta() -> None:
    # kubernetes-validate's own definition of ObjectMeta, from the core schemas it ships.
    definitions = kubernetes_validate.utils.schema_contents(
        f"kubernetes-json-schema/v{K8S_VERSION}-local-strict/_definitions.json", K8S_VERSION
    )
    core = definitions["$defs"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
    assert set(OBJECT_META["properties"]) == set(core["properties"])


def test_conversion_details() -> None:
    rollout = strict_schema("argoproj.io/v1alpha1", "Rollout")
    canary = rollout["properties"]["spec"]["properties"]["strategy"]["properties"]["canary"]
    step = canary["properties"]["steps"]["items"]
    assert step["additionalProperties"] is False
    assert "additionalProperties" not in step["properties"]["plugin"]["properties"]["config"]
    # Flagger's loadBalancer oneOf lists properties in one alternative: value checks only.
    flagger = strict_schema("flagger.app/v1beta1", "Canary")
    service = flagger["properties"]["spec"]["properties"]["service"]
    balancer = service["properties"]["trafficPolicy"]["properties"]["loadBalancer"]
    assert all("additionalProperties" not in alternative for alternative in balancer["oneOf"])


def test_go_durations_and_paths() -> None:
    assert go_duration("1h30m") == 5400
    assert go_duration("1.5s") == 1.5
    assert go_duration("-2ms") == -0.002
    assert go_duration("0") == 0
    assert go_duration("10") is None
    assert go_duration("") is None
    assert go_duration("5 s") is None
    assert format_path([]) == "(root)"
    assert format_path(["metadata", "labels", "app.kubernetes.io/name"]) == (
        'metadata.labels["app.kubernetes.io/name"]'
    )
    assert format_path(["spec", "steps", 0, "setWeight"]) == "spec.steps[0].setWeight"


def test_objects_without_properties_are_empty() -> None:
    # Argo's antiAffinity.requiredDuringSchedulingIgnoredDuringExecution is `type: object` alone:
    # the API server prunes everything in it, so it is `{}` (as Argo documents) or a mistake.
    def anti_affinity(value: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
        rule = {"requiredDuringSchedulingIgnoredDuringExecution": value}
        return lambda d: d["spec"]["strategy"]["canary"].update(antiAffinity=rule)

    assert validate(changed(ROLLOUT, anti_affinity({}))) == []
    assert validate(changed(ROLLOUT, anti_affinity({"topologyKey": "zone"}))) == [
        "spec.strategy.canary.antiAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        ".topologyKey: unknown field"
    ]
