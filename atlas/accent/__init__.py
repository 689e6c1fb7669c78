"""Feature accentuation: the loop, parameterizations, objectives, views and split forward."""
