"""Everything MLflow: run lifecycle, params, tags, artifacts and models. The only package that imports mlflow.

Import its modules by name (cnnlab.tracking.run, .callbacks, .model, ...): the package itself imports nothing, so
that reading a constant from one module does not load MLflow, Lightning and matplotlib.
"""
