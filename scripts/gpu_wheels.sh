#!/usr/bin/env bash
# Wheels of exactly what cnnlab's GPU check needs and the lent GPU machines' image lacks (CPython 3.12, manylinux
# x86-64), for machines with no package index: everything else (torch 2.11, torchvision, Lightning, torchmetrics,
# timm, numpy, pandas, scikit-learn, matplotlib, opencv, pyyaml, requests, rich, ...) is already there. The list
# is what `pip install .` resolves for Python 3.12 minus that image's packages, less MLflow's server-only needs
# (Flask, gunicorn, graphene, docker, huey), Optuna and the joblib/slurm launchers, which the check does not use.
# usage: bash scripts/gpu_wheels.sh [FOLDER]   (default .gpu-wheels, git-ignored; prints the install command)
set -euo pipefail
cd "$(dirname "$0")/.."
FOLDER=${1:-.gpu-wheels}
PYTHON=${PYTHON:-python3}

PACKAGES=(
  hydra-core==1.3.8 omegaconf==2.3.1
  # MLflow with its sqlite store (SQLAlchemy, Alembic, cryptography for the model registry's tables)
  mlflow==3.17.2 mlflow-skinny==3.17.2 mlflow-tracing==3.17.2 alembic==1.20.1 mako==1.4.3 sqlalchemy==2.1.9
  cryptography==50.0.2 cffi==2.1.1 pycparser==3.12 sqlparse==0.6.1 cachetools==7.3.3 python-dotenv==1.2.4 importlib-metadata==9.1.0 databricks-sdk==0.162.0
  opentelemetry-api==1.45.2 opentelemetry-sdk==1.45.2 opentelemetry-proto==1.45.2
  opentelemetry-semantic-conventions==0.66b2 fastapi==0.165.0 starlette==1.10.0 uvicorn==0.54.0
  gitpython==3.2.1 gitdb==4.0.12 smmap==5.0.3 google-auth==2.63.0 pyasn1==0.6.5 pyasn1-modules==0.4.2
  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
  albumentations==2.0.8 albucore==0.0.24 stringzilla==5.3.2 simsimd==6.5.16
  segmentation-models-pytorch==0.6.0 pycocotools==2.0.11 kornia==0.9.0 kornia-rs==0.2.0
  # system metrics: MLflow's monitor (psutil) and its GPU part (nvidia-ml-py, cnnlab's `gpu` extra)
  psutil==7.2.2 nvidia-ml-py==13.615.71
  # every classification run's class-activation maps (grad-cam itself is built below: source only on PyPI)
  ttach==0.0.3
)
PLATFORMS=(manylinux_2_34_x86_64 manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64)

rm -rf "$FOLDER"
mkdir -p "$FOLDER"
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${PLATFORMS[@]/#/--platform=}" -d "$FOLDER" "${PACKAGES[@]}"
# antlr4-python3-runtime (Hydra's parser) and grad-cam are published as source only; both are pure Python, so
# wheels built here install anywhere.
"$PYTHON" -m pip wheel --quiet --no-deps -w "$FOLDER" antlr4-python3-runtime==4.9.3 grad-cam==1.5.7

size_mib=$(( $(du -sk "$FOLDER" | cut -f1) / 1024 ))
echo "$(ls "$FOLDER" | wc -l) wheels, ${size_mib} MiB in $FOLDER"
if (( size_mib >= 50 )); then
  echo "cnnlab: error: $FOLDER holds ${size_mib} MiB, over the 50 MiB a GPU call may carry" >&2
  exit 1
fi
echo "install on the GPU machine (from the repository root):"
echo "python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site $FOLDER/*.whl && export PYTHONPATH=/tmp/site:\$PWD/src"
