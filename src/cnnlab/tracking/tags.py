"""The names of the tags cnnlab sets on MLflow runs, in one place (no MLflow needed to read them)."""

ERROR_TAG = "cnnlab.error"  # the one-line message of what failed the run
RESUMES_TAG = "cnnlab.resumes"  # how many times the run was resumed
RUN_DIR_TAG = "cnnlab.run_dir"  # the run's folder, set when the run is created (before its config is logged)
FAST_DEV_RUN_TAG = "cnnlab.fast_dev_run"  # a smoke test (trainer.fast_dev_run): no checkpoint, no model
DEBUG_TAG = "cnnlab.debug"  # launched with debug=fdr|overfit|limit|profile: a check, not a result to compare
OVERRIDES_TAG = "cnnlab.overrides"  # the command-line overrides of the run (or sweep)
SWEEP_PARENT_TAG = "cnnlab.sweep_parent"  # "true" on the parent run of a sweep
EVALUATES_TAG = "cnnlab.evaluates"  # on an evaluation run: the run it evaluated
EXPLAINS_TAG = "cnnlab.explains"  # on a `cnnlab explain` run: the run whose model it explained
REPRODUCES_TAG = "cnnlab.reproduces"  # on a reproduction: the run it reproduced
REPEAT_TAG = "cnnlab.repeat"  # on a repeat's parent run: the fingerprint of the config it trains under many seeds
REPEAT_SEEDS_TAG = "cnnlab.repeat.seeds"  # on a repeat's parent run: the seeds it was last asked for
