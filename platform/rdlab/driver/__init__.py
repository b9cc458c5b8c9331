"""The study driver (DESIGN §7): validates a spec, holds the study, runs its search on Ray
Tune, records it in MLflow and writes the RD dataset and the report. It sits above every
other package (``tune``, ``track``, ``frontier``, ``dashboards``) and nothing imports it
but the command line and the study scripts.
"""
