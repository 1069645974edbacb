"""`mlspec deploy`: a compiled spec to a running orchestrator.

common.py holds what every target shares (the plan, its steps and `apply`, retries, errors);
verdicts.py reads a deployed run's gate verdicts from its logs. Each target's module or package
(airflow, kubeflow, prefect) offers `deploy(request)` and `offline_plan(request)`, and names its
parts alike: `Settings` (checked by `settings_from`), what the spec wants on the server, and
`Api`, the client behind one retry and error policy.
"""
