"""Code delivery: the step package as a pinned wheel and the Dockerfile of an image holding it."""
