"""Run by the Airflow environment's interpreter: the pod each KubernetesPodOperator of the DAGs
in a folder would create, as the operator builds it, printed as JSON after PODS.

    python airflow_pods.py FOLDER
"""

import json
import sys

from airflow.dag_processing.dagbag import DagBag
from kubernetes.client import ApiClient

bag = DagBag(dag_folder=sys.argv[1], safe_mode=True, known_pools={"default_pool"})
if bag.import_errors:
    raise SystemExit(f"import errors: {bag.import_errors}")
pods = {
    f"{dag.dag_id}.{task.task_id}": ApiClient().sanitize_for_serialization(
        task.build_pod_request_obj()
    )
    for dag in bag.dags.values()
    for task in dag.tasks
    if task.task_type == "KubernetesPodOperator"
}
print("PODS " + json.dumps(pods, sort_keys=True))
