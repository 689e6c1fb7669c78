"""``atlas validate`` and ``atlas explain``: the paper's claims on the user's model."""
