"""The describe stage: where each unit fires on its listed images, and its honest labels."""
