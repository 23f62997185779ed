"""Grafana dashboards and Prometheus rules of the mlship stack, written as code.

``python -m observability.generator`` writes the dashboard JSON under
``observability/grafana/dashboards/`` and the rule files under
``observability/prometheus/rules/`` from one source of truth (``signals``);
``--check`` only reports whether the committed files are current.
"""
