"""Export passes, each a small function over the IR (or, for pruning, over the model before capture)."""
