"""The connections between consecutive mined layers: which units drive which."""
