"""The bundled cases: one TOML file per reproduced experiment, citing its paper and stating
its claims (the schema is in ``docs/cases.md``). This package holds data only and imports
nothing; it is a package so that the case files are installed with the project (as package
data) and found through ``importlib.resources`` by ``arena.comparisons.cases.bundled_cases`` from any
working directory, in a wheel or a non-editable install as in a source checkout.
"""
