"""Training callbacks: the ones every run has (safety), and the ones users switch on by name (`callbacks=[...]`,
registered in cnnlab.callbacks.choices)."""
