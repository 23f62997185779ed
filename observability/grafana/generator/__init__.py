"""Grafana dashboards of the mlship stack, written as code.

``python -m observability.grafana.generator`` writes the JSON files under
``observability/grafana/dashboards/`` that Grafana's file provider loads;
``--check`` only reports whether the committed files are current.
"""
