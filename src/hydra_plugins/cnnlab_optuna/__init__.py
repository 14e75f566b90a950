"""cnnlab's Optuna sweeper for Hydra (hydra/sweeper=cnnlab_optuna; `sweep=optuna` selects it with a search space).

It lives in the `hydra_plugins` namespace because Hydra only loads sweepers from there.
"""
