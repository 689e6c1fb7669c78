"""The model's decisions: every image's prediction, the data labels mapped to classes, and the
class and failure accentuations."""
