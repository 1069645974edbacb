"""Every diagnostic code mlspec emits, with a one-line title. Codes are stable: never reuse one.

MS0xx: the file and its YAML. MS1xx: the shape of the spec and single values.
MS2xx: references, types and the graph across the spec. MS3xx: limits of one
target, reported by its back end.
"""

CODES: dict[str, str] = {
    "MS001": "YAML syntax error",
    "MS002": "duplicate key",
    "MS003": "mapping key is not a string",
    "MS004": "more than one YAML document",
    "MS005": "the spec is not a mapping",
    "MS006": "the document is too large or too deep once aliases are expanded",
    "MS007": "the file cannot be read as UTF-8 text of a reasonable size",
    "MS008": "the spec is empty",
    "MS009": "YAML tags are not supported",
    "MS010": "unsupported apiVersion or kind",
    "MS011": "a number out of range (no integer or float holds it)",
    "MS012": "the file cannot be read",
    "MS101": "unknown field",
    "MS102": "missing required field",
    "MS103": "wrong type",
    "MS104": "invalid value",
    "MS105": "conflicting or missing alternatives (exactly one of several fields)",
    "MS106": "the notebook is missing or not a valid Python notebook",
    "MS107": "the notebook is too large to ship",
    "MS110": "invalid name",
    "MS111": "invalid DNS-1123 name",
    "MS112": "invalid version (MAJOR.MINOR.PIPELINE)",
    "MS113": "invalid duration",
    "MS114": "invalid cron expression",
    "MS115": "invalid resource quantity",
    "MS116": "invalid Python function (module:function)",
    "MS117": "literal credential in the spec",
    "MS118": "invalid registry alias",
    "MS119": "invalid image reference",
    "MS120": "malformed reference",
    "MS121": "invalid package requirement",
    "MS122": "invalid git commit (a full 40-character id)",
    "MS123": "invalid Kubernetes label or resource name",
    "MS124": "inconsistent toleration",
    "MS201": "unknown step or output",
    "MS202": "unknown parameter",
    "MS203": "unknown gate",
    "MS204": "unknown analysis",
    "MS205": "unknown registry alias",
    "MS206": "unknown pipeline or monitor",
    "MS207": "a spec this one names has errors",
    "MS210": "type mismatch through a reference",
    "MS211": "gate operand is not numeric",
    "MS212": "a gate or the registry reads something that is not a dataset",
    "MS213": "registered or served artifact is not a model",
    "MS220": "dependency cycle",
    "MS221": "names collide on some target",
    "MS222": "reserved name",
    "MS223": "parameter default does not match its type",
    "MS224": "unknown or missing placeholder (a command or an analysis query)",
    "MS225": "container step without an image",
    "MS226": "invalid for_each list",
    "MS227": "'item' outside a step with for_each",
    "MS228": "a loop reads another loop per element, or waits for itself",
    "MS229": "a fanned step's outputs read where one value is needed",
    "MS230": "champion comparison without a first-run policy",
    "MS231": "gate guards nothing",
    "MS234": "for_each names a parameter that is not a list",
    "MS235": "list parameter read as a value",
    "MS240": "duplicate promotion alias",
    "MS241": "rollout weights do not rise within 0..100",
    "MS242": "inconsistent rollout settings",
    "MS243": "promotion and rollout wait for each other",
    "MS244": "a section that the spec relies on is missing",
    "MS250": "analysis query does not tell the canary from the stable version (warning)",
    "MS260": "step test names an unknown step, or one it cannot run",
    "MS261": "step test input does not fit the step",
    "MS262": "step test expectation does not fit the output",
    "MS263": "step test names a gate it cannot judge",
    "MS264": "step test fixture file not found",
    "MS270": "unknown environment",
    "MS271": "an environment overrides what is the same in every environment",
    "MS272": "a secret given as a literal value",
    "MS273": "an environment loosens a gate",
    "MS274": "an environment tightens what the gate does not have",
    "MS275": "an environment's secret for a variable that reads no secret",
    "MS276": "promote_from names no other environment, or promotions go round in a cycle",
    "MS277": "environments share one registered model and would set each other's aliases",
    "MS278": "an environment binds a section the spec does not have",
    "MS279": "an image mirror matches no image (warning)",
    "MS280": "an environment promotes from another, but no promotion rule waits for the rollout",
    "MS285": "an environment changes which rollout objects there are",
    "MS286": "a rollout object outside its environment's namespace",
    "MS287": "two environments deploy into one namespace of one cluster",
    "MS288": "an environment names no cluster for its Argo CD Application",
    "MS301": "not expressible on the target",
    "MS302": "works differently on the target (warning)",
    "MS303": "step code does not reach where the step runs",
}

# Reported by the rollout target's GitOps tree of a spec with environments (an overlay per
# environment, backends/rollout/environments.py), which tests/rollout/ covers.
GITOPS_CODES = frozenset({"MS285", "MS286", "MS287", "MS288"})
# Reported by a back end, not the front end: the back end's own tests cover each.
BACKEND_CODES = frozenset(code for code in CODES if code.startswith("MS3")) | GITOPS_CODES
# Reported about a file that `validate` cannot read at all: no spec in a corpus can show it.
FILE_CODES = frozenset({"MS012"})
# Reported by `mlspec test`, which reads the fixture files beside the spec (tests/testing/).
TEST_CODES = frozenset({"MS264"})
# Reported by `compile --env NAME` for an environment the spec does not declare (tests/test_cli).
ENV_CODES = frozenset({"MS270"})
