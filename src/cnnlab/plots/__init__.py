"""Plots as pure functions from arrays to matplotlib figures; saving them is the tracker's job."""
