"""The mine stage: one streaming pass keeping each unit's top and bottom images and statistics."""
