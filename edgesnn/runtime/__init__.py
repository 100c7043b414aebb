"""Runtimes that execute `.esnn` blobs outside Python: the portable C runtime (`edgesnn.runtime.c`)."""
