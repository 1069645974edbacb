"""Run by the Airflow environment's interpreter: dag.test() the one DAG in FILE, then print each
task instance's state and its templated fields as Airflow rendered them for that map index,
as JSON after RENDERED. (Container tasks then fail: no cluster here; they render first.)

    python rendered.py FILE
"""

import json
import sys

from airflow.dag_processing.dagbag import DagBag
from airflow.models.renderedtifields import RenderedTaskInstanceFields
from airflow.utils.session import create_session
from sqlalchemy import select

bag = DagBag(dag_folder=sys.argv[1], safe_mode=True, known_pools={"default_pool"})
if bag.import_errors:
    raise SystemExit(f"import errors: {bag.import_errors}")
[dag] = bag.dags.values()
run = dag.test()
found = {
    f"{ti.task_id}.{ti.map_index}": {"state": getattr(ti.state, "value", ti.state)}
    for ti in run.get_task_instances()
}
query = select(RenderedTaskInstanceFields).where(RenderedTaskInstanceFields.run_id == run.run_id)
with create_session() as session:
    for row in session.scalars(query):
        found[f"{row.task_id}.{row.map_index}"]["fields"] = row.rendered_fields
print("RENDERED " + json.dumps(found, sort_keys=True, default=str))
