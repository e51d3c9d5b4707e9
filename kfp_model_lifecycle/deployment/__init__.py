"""Deploying model versions to KServe: manifest, rollout, registry serving records, history.

The jobs are in :mod:`~kfp_model_lifecycle.deployment.run`; the components call them through
:mod:`~kfp_model_lifecycle.deployment.tasks`. The other modules, in the order a deployment uses them:
``conventions`` (names and fixed values), ``validation`` and ``names`` (inputs), ``manifest`` and ``patch`` (what to
send), ``kube`` and ``inference_service`` (the Kubernetes API), ``readiness`` and ``rollout`` (waiting, canary,
automatic restore), ``records`` and ``recording`` (the registry's serving records and the audit trail),
``history`` (what was deployed, what a rollback restores), ``deploy`` (the step deploy and rollback share) and
``session`` (the clients a job opens).
"""
